import t, { type Test } from 'tap'
import { closeSync, openSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { main, processIO } from '../../src/cli'
import type { HookIO } from '../../src/hook'
import { memberOf, parseJsonText, type JsonNode } from '../../src/json-text'
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

/** Every number's text in a JSON document, in order, as written (no decoding: nothing is rounded). */
const numberTexts = (text: string): string[] => {
  const out: string[] = []
  const walk = (n: JsonNode) => {
    if (n.kind === 'object') n.members.forEach(m => walk(m.value))
    else if (n.kind === 'array') n.items.forEach(walk)
    else if (/^-?\d/.test(text.slice(n.start, n.end))) out.push(text.slice(n.start, n.end))
  }
  walk(parseJsonText(text))
  return out
}

/** `out` is `text` with one insertion right before its createContainer item `at`: returns what was inserted. */
const insertedBefore = (t: Test, text: string, out: string, at: number): string => {
  const list = memberOf(memberOf(parseJsonText(text), 'hooks'), 'createContainer')
  const start = (list?.kind === 'array' ? list.items[at]?.start : undefined) as number
  const delta = out.length - text.length
  t.equal(out.slice(0, start), text.slice(0, start), 'everything before the insertion as it was')
  t.equal(out.slice(start + delta), text.slice(start), 'everything after it as it was')
  return out.slice(start, start + delta)
}

t.test('shared/cases/precreate-rlimit-memlock.json: 18446744073709551615 stays exact (podman refused the rounded one)', async t => {
  const text = readFileSync(join(__dirname, '../fixtures/cases/precreate-rlimit-memlock.json'), 'utf8')
  const out = precreate(text, {})
  t.same(numberTexts(out), numberTexts(text))
  t.equal(out.match(/18446744073709551615/g)?.length, 2)
  t.equal(insertedBefore(t, text, out, 0), `${JSON.stringify(ourHook())},`, 'only our entry, compact like its neighbour')
})

t.test('every large number podman and runc write is kept as written', async t => {
  const big = {
    ociVersion: '1.2.1',
    process: {
      rlimits: [
        { type: 'RLIMIT_MEMLOCK', hard: '@18446744073709551615', soft: '@18446744073709551615' },
        { type: 'RLIMIT_CORE', hard: '@18446744073709551615', soft: '@18446744073709551615' },
        { type: 'RLIMIT_NOFILE', hard: '@1048576', soft: '@1048576' },
      ],
    },
    linux: {
      resources: { memory: { limit: '@9223372036854775807', swap: '@-1', reservation: '@-1' }, pids: { limit: '@-1' }, cpu: { quota: '@-1', period: '@100000' } },
      uidMappings: [{ containerID: '@0', hostID: '@4294967294', size: '@4294967295' }],
      gidMappings: [{ containerID: '@0', hostID: '@100000', size: '@65536' }],
      seccomp: {
        defaultAction: 'SCMP_ACT_ERRNO',
        defaultErrnoRet: '@1',
        syscalls: [{ names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: '@0', value: '@18446744073709551615', valueTwo: '@0', op: 'SCMP_CMP_EQ' }] }],
      },
    },
    hooks: { createContainer: [other, nvidia] },
    annotations: { 'x.escaped': 'a\u00e9\\/b', 'y.float': '@1.5e300', 'z.neg': '@-0.0' },
  }
  // JSON.stringify would round them first: write the numbers' text in afterwards.
  const spaced = JSON.stringify(big, null, '\t').replace(/"@([-0-9.e]+)"/g, '$1').replace('a\\\\/b', 'a\\/b')
  for (const text of [spaced, spaced.replace(/\n\s*/g, '')]) {
    const out = precreate(text, {})
    t.same(numberTexts(out), numberTexts(text), 'every number as written')
    t.match(numberTexts(out), ['18446744073709551615', '18446744073709551615'])
    t.match(out, /"a\\u00e9|aé/, 'string escapes kept')
    const entry = insertedBefore(t, text, out, 1)
    t.same(JSON.parse(entry.replace(/,\s*$/, '')), ourHook(), 'only our entry')
  }
})

t.test('an entry of ours with a missing or unsafe env is replaced, keeping its binary and log file', async t => {
  const unsafe = { path: '/opt/nph/nvidia-procfs-hook', args: ['nvidia-procfs-hook', 'hook', '--log-file', '/var/log/nph.log'] }
  const out = JSON.parse(precreate(config([unsafe, nvidia]), {}))
  t.same(out.hooks.createContainer, [ourHook({ binary: '/opt/nph/nvidia-procfs-hook', logFile: '/var/log/nph.log' }), nvidia])
  const preloaded = { ...ourHook(), env: ['PATH=/usr/bin', 'LD_PRELOAD=/x.so'] }
  t.same(JSON.parse(precreate(config([preloaded, nvidia]), {})).hooks.createContainer, [ourHook(), nvidia])
  t.same(JSON.parse(precreate(config([nvidia, preloaded]), {})).hooks.createContainer, [ourHook(), nvidia, ourHook()], 'a late one too: it runs all the same')
  t.equal(precreate(config([ourHook(), other]), {}), config([ourHook(), other]), 'a safe one in a list without NVIDIA hooks: left alone')
})

t.test('only a list holding disable-device-node-modification gets the entry', async t => {
  const symlinks = { path: '/usr/bin/nvidia-cdi-hook', args: ['nvidia-cdi-hook', 'create-symlinks', '--link', 'a::b'] }
  t.equal(precreate(config([symlinks]), {}), config([symlinks]))
  const cdiForm = { path: '/usr/bin/nvidia-cdi-hook', args: ['nvidia-cdi-hook', 'disable-device-node-modification'] }
  t.same(JSON.parse(precreate(config([symlinks, cdiForm]), {})).hooks.createContainer, [ourHook(), symlinks, cdiForm], 'before the first NVIDIA hook')
})
