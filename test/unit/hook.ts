import t, { type Test } from 'tap'
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { hookCommand, HOOK_USAGE, type HookIO } from '../../src/hook'
import { procProbe } from '../../src/placement'

// Paths in this file never lead to a mount: the source is missing or the
// run is a dry run. Mounting paths are in test/system/hook.ts.
const MISSING = '/nonexistent/proc/driver/nvidia'
const tmp = mkdtempSync(`${tmpdir()}/nph-hook-unit-`)
t.teardown(() => rmSync(tmp, { recursive: true }))
let stdinCount = 0

const io = (stdinText?: string, over: Partial<HookIO> = {}) => {
  const out: string[] = []
  const err: string[] = []
  let stdin = 0
  if (stdinText !== undefined) {
    const file = `${tmp}/stdin-${++stdinCount}`
    writeFileSync(file, stdinText)
    stdin = openSync(file, 'r')
  }
  const hookIO: HookIO = {
    stdin,
    isTTY: () => stdinText === undefined,
    out: l => out.push(l),
    err: l => err.push(l),
    probe: procProbe,
    self: ['/bin/false'],
    ...over,
  }
  return { hookIO, out, err }
}

/** A bundle with an empty rootfs, and a fake driver dir beside it at source/. */
const bundleDir = (t: Test, config: unknown = { root: { path: 'rootfs' } }) =>
  t.testdir({ 'config.json': JSON.stringify(config), rootfs: {}, source: { params: 'ModifyDeviceFiles: 1\n' } })

const state = (bundle: string, extra = {}) => JSON.stringify({ ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: -1, bundle, ...extra })

t.test('no driver: exit 0, silent for a runtime, one line for a person', async t => {
  const b = bundleDir(t)
  const r = io(state(b))
  t.equal(hookCommand(['--source', MISSING], r.hookIO), 0)
  t.same(r.err, [])
  t.same(r.out, [])
  const by = io()
  t.equal(hookCommand(['--rootfs', `${b}/rootfs`, '--source', MISSING], by.hookIO), 0)
  t.same(by.err, [`nvidia-procfs-hook: skipped: no NVIDIA driver loaded (${MISSING} does not exist)`])
})

t.test('the log file gets one JSON line per run', async t => {
  const b = bundleDir(t)
  const log = `${b}/hook.log`
  t.equal(hookCommand(['--source', MISSING, '--log-file', log, '--stage', 'createContainer'], io(state(b)).hookIO), 0)
  t.throws(() => hookCommand(['--log-file', log], io('{"id": 1}').hookIO), { message: /"id" must be a string/ })
  const [first, second] = readFileSync(log, 'utf8').trim().split('\n').map(l => JSON.parse(l))
  t.match(first, { id: 'c1', stage: 'createContainer', rootfs: `${b}/rootfs`, action: 'skipped', reason: /no NVIDIA driver/, exitCode: 0 })
  t.type(first.durationMs, 'number')
  t.match(second, { action: 'failed', reason: /invalid OCI state from stdin/, exitCode: 1 })
  t.equal(second.id, undefined)
})

t.test('the rootfs comes from crun\'s root, the bundle, or --rootfs/--bundle', async t => {
  const b = bundleDir(t, { root: { path: '/somewhere/else' } })
  const log = `${b}/hook.log`
  const run = (args: string[], stdin?: string) => hookCommand([...args, '--source', MISSING, '--log-file', log], io(stdin).hookIO)
  run([], state(b, { root: '/crun/rootfs' }))
  run([], state(b, { root: 'rel' }))
  run([], state(b))
  run(['--bundle', b])
  run(['--rootfs', '/given'])
  writeFileSync(`${b}/state.json`, state(b))
  run(['--state', `${b}/state.json`])
  const rootfs = readFileSync(log, 'utf8').trim().split('\n').map(l => JSON.parse(l).rootfs)
  t.same(rootfs, ['/crun/rootfs', `${b}/rel`, '/somewhere/else', '/somewhere/else', '/given', '/somewhere/else'])
})

t.test('argv misuse is exit 2', async t => {
  const cases: [string[], RegExp][] = [
    [['extra'], /unexpected argument "extra"/],
    [['--stage', 'poststop'], /--stage must be one of/],
    [['--state', '/s', '--rootfs', '/r'], /--state cannot be combined with --bundle or --rootfs/],
    [['--rootfs', 'relative'], /--rootfs must be an absolute path/],
    [['--log-file', 'x.log', '--rootfs', '/r'], /--log-file must be an absolute path/],
    [[], /expected the OCI state on stdin/],
  ]
  for (const [argv, msg] of cases) t.throws(() => hookCommand(argv, io().hookIO), { name: 'UsageError', exitCode: 2, message: msg })
})

t.test('--help prints the usage', async t => {
  const r = io()
  t.equal(hookCommand(['--help'], r.hookIO), 0)
  t.same(r.out, [HOOK_USAGE])
})

t.test('--debug traces to stderr', async t => {
  const b = bundleDir(t)
  const written: string[] = []
  const orig = process.stderr.write
  process.stderr.write = ((s: string) => (written.push(s), true)) as typeof process.stderr.write
  try {
    hookCommand(['--debug', '--source', MISSING], io(state(b)).hookIO)
  } finally {
    process.stderr.write = orig
    // Tracing stays on for this process once enabled; keep the other tests' output clean.
    ;(require('debug') as typeof import('debug')).disable()
  }
  t.match(written.join(''), /nvidia-procfs-hook:hook rootfs /)
})

t.test('dry run with a driver present plans, touches nothing', async t => {
  const b = bundleDir(t)
  const source = `${b}/source`
  const r = io()
  t.equal(hookCommand(['--rootfs', `${b}/rootfs`, '--source', source, '--dry-run'], r.hookIO), 0)
  t.same(r.out, [
    `would create ${b}/rootfs/proc (mode 0555)`,
    `would create ${b}/rootfs/proc/driver (mode 0555)`,
    `would create ${b}/rootfs/proc/driver/nvidia (mode 0555)`,
    `would bind ${source} onto ${b}/rootfs/proc/driver/nvidia read-only (ro,nosuid,nodev,noexec)`,
  ])
})

t.test('runtime stages that cannot help warn and exit 0', async t => {
  const b = bundleDir(t)
  const source = `${b}/source`
  const r = io(state(b, { pid: 4242 }), { probe: { mountNamespace: () => 'mnt:[1]', isRunscSandbox: () => true } })
  t.equal(hookCommand(['--stage', 'createRuntime', '--source', source], r.hookIO), 0)
  t.match(r.err, [/^nvidia-procfs-hook: warning: under runsc, createRuntime runs after the gofer/])
})
