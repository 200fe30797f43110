import t from 'tap'
import { parseState } from '../../src/oci-state'

const good = { ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 42, bundle: '/run/b' }
const parse = (v: unknown) => parseState(typeof v === 'string' ? v : JSON.stringify(v), 'stdin')

t.test('accepts the states runtimes send', async t => {
  t.same(parse(good), { id: 'c1', status: 'creating', bundle: '/run/b', pid: 42 })
  t.same(parse({ ...good, pid: -1 }).pid, -1, 'runsc gofer')
  t.same(parse({ ...good, pid: 0, root: '/r/rootfs' }), { id: 'c1', status: 'creating', bundle: '/run/b', pid: 0, root: '/r/rootfs' }, 'crun')
  const noPid: Record<string, unknown> = { ...good, status: 'stopped', annotations: { a: 'b' }, extra: [1] }
  delete noPid.pid
  t.same(parse(noPid), { id: 'c1', status: 'stopped', bundle: '/run/b' }, 'unknown fields ignored, pid optional')
})

t.test('each defect is named in one line', async t => {
  const cases: [unknown, RegExp][] = [
    ['', /empty input/],
    ['  \n', /empty input/],
    ['{"id":', /not JSON/],
    ['null', /expected a JSON object, got null/],
    ['[1]', /got array/],
    ['"s"', /got string/],
    [{ ...good, id: undefined }, /missing "id"/],
    [{ ...good, id: 7 }, /"id" must be a string, got number/],
    [{ ...good, id: '' }, /"id" is empty/],
    [{ ...good, id: 'a\u0000b' }, /"id" contains a NUL byte/],
    [{ ...good, status: 'paused' }, /"status" must be one of creating, created, running, stopped/],
    [{ ...good, status: null }, /"status" must be a string, got null/],
    [{ ...good, bundle: 'rel/b' }, /"bundle" must be an absolute path/],
    [{ ...good, bundle: {} }, /"bundle" must be a string, got object/],
    [{ ...good, pid: '42' }, /"pid" must be an integer, got string/],
    [{ ...good, pid: 1.5 }, /"pid" must be an integer, got number/],
    [{ ...good, root: 3 }, /"root" must be a string/],
  ]
  for (const [input, msg] of cases) {
    t.throws(() => parse(input), { name: 'HookError', message: msg }, String(msg))
  }
  t.throws(() => parse(''), { message: /^invalid OCI state from stdin: / })
})
