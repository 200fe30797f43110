import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { applySettings, hooksDirSetting, podmanHooksDirs } from '../../src/containers-conf'
import { PODMAN_DROP_IN } from '../../src/host-layout'

const read = (text: string) => hooksDirSetting(text, 'c.conf')

t.test('hooks_dir under [engine], as containers/common decodes it', async t => {
  t.equal(read(''), undefined, 'not set')
  t.equal(read('[containers]\nhooks_dir = ["/a"]\n[engine.runtimes]\nhooks_dir = ["/b"]\n[[engine.x]]\nhooks_dir = ["/c"]\n'), undefined, "another table's key")
  t.same(read('[engine]\nhooks_dir = ["/a", \'/b\\\\c\']\n'), { dirs: ['/a', '/b\\\\c'], append: false }, 'basic and literal strings')
  t.same(read(' [ engine ] # c\n  "hooks_dir"  =  [ "/a" ] # trailing\n'), { dirs: ['/a'], append: false }, 'spaces, comments, a quoted key')
  t.same(read("[engine]\n'hooks_dir' = [\n  # a comment\n  \"/a\",\n\n  \"/b\",\n]\n"), { dirs: ['/a', '/b'], append: false }, 'over lines, trailing comma')
  t.same(read('[engine]\nhooks_dir = ["/a\\"\\\\\\t\\u00e9\\U0001F600\\b\\f\\n\\r"]\n'), { dirs: ['/a"\\\t\u00e9\u{1F600}\b\f\n\r'], append: false }, 'escapes')
  t.same(read('[engine]\nhooks_dir = ["/a", {append=true}]\n'), { dirs: ['/a'], append: true }, "podman 5's append")
  t.same(read('[engine]\nhooks_dir = [{ append = false }, "/a"]\n'), { dirs: ['/a'], append: false })
  t.same(read('[engine]\nhooks_dir = ["/a"]\nhooks_dir = ["/b"]\n'), { dirs: ['/b'], append: false }, 'the last one read')
  t.same(read('[engine]\nvolumes = [\n  "/x:/y",\n]\nhooks_dir = []\n'), { dirs: [], append: false }, "another key's array over lines is skipped")
  t.same(read('[engine]\r\nhooks_dir = ["/a"]\r\n'), { dirs: ['/a'], append: false }, 'CRLF')
  t.equal(read('[engine]\nx = 1'), undefined, 'no final newline')
})

t.test('forms it does not read for sure: one line naming file and line', async t => {
  const cases: [string, string][] = [
    ['[engine]\nhooks_dir = "/a"\n', '2: cannot read hooks_dir: not an array'],
    ['[engine]\nhooks_dir = ["""/a"""]\n', '2: cannot read hooks_dir: a multi-line string'],
    ["[engine]\nhooks_dir = ['''/a''']\n", '2: cannot read hooks_dir: a multi-line string'],
    ['[engine]\nhooks_dir = ["/a\n"]\n', '2: cannot read hooks_dir: an unterminated string'],
    ['[engine]\nhooks_dir = ["/a\\q"]\n', '2: cannot read hooks_dir: an unknown escape \\q'],
    ['[engine]\nhooks_dir = ["/a\\u12"]\n', '2: cannot read hooks_dir: a bad \\u escape'],
    ['[engine]\nhooks_dir = ["/a"', '2: cannot read hooks_dir: an unterminated array'],
    ['[engine]\nhooks_dir = ["/a" "/b"]\n', '2: cannot read hooks_dir: a missing comma'],
    ['[engine]\nhooks_dir = [1]\n', '2: cannot read hooks_dir: unexpected "1"'],
    ['[engine]\nhooks_dir = ["/a", {prepend=true}]\n', '2: cannot read hooks_dir: an inline table other than {append=true}'],
    ['[engine]\nhooks_dir = ["/a", {append=true]\n', '2: cannot read hooks_dir: an inline table other than {append=true}'],
    ['[engine]\nhooks_dir = ["/a"] x\n', '2: cannot read hooks_dir: text after the array'],
    ['engine.hooks_dir = ["/a"]\n', '1: cannot read hooks_dir: a dotted key (engine.hooks_dir)'],
  ]
  for (const [text, message] of cases) t.throws(() => read(text), { message: `c.conf:${message}` }, JSON.stringify(text))
})

t.test("podman's effective list for root: default, then each file in containers/common's order", async t => {
  const dir = t.testdir({
    usr: { share: { containers: { 'containers.conf': '[engine]\nhooks_dir = ["/usr/h"]\n' } } },
    etc: {
      containers: {
        'containers.conf': '[engine]\nnum_locks = 2048\n',
        'containers.conf.d': {
          '20-b.conf': '[engine]\nhooks_dir = ["/b", {append=true}]\n',
          '10-a.conf': '[engine]\nhooks_dir = ["/a"]\n',
          'nvidia-procfs-hook.conf': '[engine]\nhooks_dir = ["/ours"]\n',
          'notes.txt': '[engine]\nhooks_dir = ["/not-read"]\n',
          'sub.conf': {},
        },
      },
    },
  })
  const at = (p: string) => join(dir, p)
  const all = podmanHooksDirs(at)
  t.same(all.dirs, ['/ours'], 'our drop-in, read last by name, replaces')
  t.same(all.sources.map(s => s.file), ['/usr/share/containers/containers.conf', '/etc/containers/containers.conf', '/etc/containers/containers.conf.d/10-a.conf', '/etc/containers/containers.conf.d/20-b.conf', PODMAN_DROP_IN])
  t.same(podmanHooksDirs(at, PODMAN_DROP_IN).dirs, ['/a', '/b'], 'without it')
  t.same(applySettings(['/x'], []), ['/x'])
  t.same(podmanHooksDirs(p => join(dir, 'nothing', p)).dirs, ['/usr/share/containers/oci/hooks.d'], 'no file: the default')
  mkdirSync(join(dir, 'bad/etc/containers/containers.conf'), { recursive: true })
  writeFileSync(join(dir, 'bad/etc/containers/containers.conf.d'), '')
  t.throws(() => podmanHooksDirs(p => join(dir, 'bad', p)), { message: `cannot read ${dir}/bad/etc/containers/containers.conf: EISDIR` })
})
