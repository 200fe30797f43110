import t, { type Test } from 'tap'
import { closeSync, openSync } from 'node:fs'
import { main, processIO } from '../../src/cli'
import type { HookIO } from '../../src/hook'
import { precreate, precreateCommand, PRECREATE_USAGE } from '../../src/precreate'
import { ourHook } from '../../src/registration'

const nvidia = { path: '/usr/bin/nvidia-ctk', args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] }
const other = { path: '/usr/bin/other', args: ['other'] }

/** Podman hands over Go's json.Marshal output: compact, no final newline. */
const config = (createContainer?: unknown) =>
  JSON.stringify({ ociVersion: '1.0.2-dev', root: { path: '/r' }, ...(createContainer === undefined ? {} : { hooks: { createContainer } }) })

t.test('inserts our entry right before the first NVIDIA createContainer hook', async t => {
  const out = JSON.parse(precreate(config([other, nvidia, nvidia]), {}))
  t.same(out.hooks.createContainer, [other, ourHook(), nvidia, nvidia])
  t.same(out.root, { path: '/r' }, 'the rest kept')
  const logged = JSON.parse(precreate(config([nvidia]), { binary: '/opt/nph', logFile: '/l' }))
  t.same(logged.hooks.createContainer[0], ourHook({ binary: '/opt/nph', logFile: '/l' }))
})

t.test('passes any other config through byte for byte', async t => {
  const cases = [
    config(),
    config([other]),
    config([ourHook(), nvidia]),
    '{"hooks": {"prestart": [{"path": "/usr/bin/nvidia-ctk", "args": ["nvidia-ctk", "hook", "x"]}]}}\n',
    '{"hooks": null}',
    '{"hooks": "odd", "x": 1}',
    '{"hooks": {"createContainer": {"not": "a list"}}}',
  ]
  for (const text of cases) t.equal(precreate(text, {}), text, text)
})

t.test('bad input is refused with one clear line', async t => {
  t.throws(() => precreate('{"ociVersion": ', {}), { message: /^precreate: the OCI config on stdin is not JSON \(/, exitCode: 1 })
  t.throws(() => precreate('', {}), { message: /not JSON/ })
  for (const text of ['[]', 'null', '"x"']) {
    t.throws(() => precreate(text, {}), { message: 'precreate: the OCI config on stdin is not a JSON object' })
  }
})

const withStdin = (t: Test, text: string, over: Partial<HookIO> = {}) => {
  const dir = t.testdir({ 'config.json': text })
  const fd = openSync(`${dir}/config.json`, 'r')
  t.teardown(() => closeSync(fd))
  const out: string[] = []
  const err: string[] = []
  const io: HookIO = { ...processIO(), stdin: fd, isTTY: () => false, out: l => out.push(l), err: l => err.push(l), ...over }
  return { io, out, err }
}

t.test('the command reads stdin and writes stdout raw', async t => {
  const text = config([nvidia])
  const { io } = withStdin(t, text)
  const written = t.capture(process.stdout, 'write', () => true)
  const code = main(['precreate', '--binary', '/opt/nph'], io)
  written.restore()
  t.equal(code, 0)
  t.same(written().map(c => c.args), [[precreate(text, { binary: '/opt/nph' })]])
  const same = withStdin(t, config([other]))
  // Nothing may assert while stdout is captured: tap writes there too.
  const passed = t.capture(process.stdout, 'write', () => true)
  const passCode = precreateCommand([], same.io)
  passed.restore()
  t.equal(passCode, 0)
  t.same(passed().map(c => c.args), [[config([other])]], 'no newline added')
})

t.test('usage', async t => {
  const { io, out, err } = withStdin(t, '{}')
  t.equal(precreateCommand(['--help'], io), 0)
  t.same(out, [PRECREATE_USAGE])
  t.equal(main(['precreate', 'extra'], io), 2)
  t.equal(main(['precreate', '--binary', 'rel'], io), 2)
  t.equal(main(['precreate', '--bogus'], io), 2)
  const tty = withStdin(t, '{}', { isTTY: () => true })
  t.equal(main(['precreate'], tty.io), 2)
  t.same(err, [
    'nvidia-procfs-hook: error: precreate: unexpected argument "extra"',
    'nvidia-procfs-hook: error: precreate: --binary must be an absolute path',
    'nvidia-procfs-hook: error: precreate: unknown option --bogus',
  ])
  t.same(tty.err, ['nvidia-procfs-hook: error: precreate: expected the OCI config on stdin; see --help'])
  const bad = withStdin(t, 'not json')
  t.equal(main(['precreate'], bad.io), 1, 'podman then refuses the container')
  t.match(bad.err, [/^nvidia-procfs-hook: error: precreate: the OCI config on stdin is not JSON/])
})
