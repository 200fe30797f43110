import t, { type Test } from 'tap'
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { hookCommand, HOOK_USAGE, mapsHostRoot, type HookIO } from '../../src/hook'
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
  const source = `${b}/source`
  t.equal(hookCommand(['--source', MISSING, '--log-file', log, '--stage', 'createContainer'], io(state(b)).hookIO), 0)
  t.equal(hookCommand(['--source', source, '--dry-run', '--log-file', log], io(state(b)).hookIO), 0)
  t.throws(() => hookCommand(['--source', source, '--log-file', log], io('{"id": 1}').hookIO), { message: /"id" must be a string/ })
  const [first, second, third] = readFileSync(log, 'utf8').trim().split('\n').map(l => JSON.parse(l))
  // No driver: nothing else was read, so the line names neither container nor rootfs.
  t.match(first, { stage: 'createContainer', action: 'skipped', reason: /no NVIDIA driver/, exitCode: 0 })
  t.equal(first.id, undefined)
  t.equal(first.rootfs, undefined)
  t.type(first.durationMs, 'number')
  t.match(second, { id: 'c1', stage: 'createContainer', rootfs: `${b}/rootfs`, action: 'planned', exitCode: 0 })
  t.match(third, { action: 'failed', reason: /invalid OCI state from stdin/, exitCode: 1 })
  t.equal(third.id, undefined)
})

t.test('no driver: exit 0 before reading the state, config.json or anything else', async t => {
  const b = bundleDir(t)
  const r = io('this is not a state')
  t.equal(hookCommand(['--source', MISSING, '--stage', 'createContainer'], r.hookIO), 0)
  t.match(readFileSync(`/proc/self/fdinfo/${r.hookIO.stdin}`, 'utf8'), /^pos:\s+0$/m, 'stdin was not read')
  t.same(r.err, [])
  const noConfig = io(state(`${b}/no-such-bundle`))
  t.equal(hookCommand(['--source', MISSING], noConfig.hookIO), 0)
  t.same(noConfig.err, [])
  t.equal(hookCommand(['--source', MISSING, '--state', `${b}/absent-state.json`], io().hookIO), 0)
})

t.test('a source that is not a directory is an error, logged as such', async t => {
  const b = bundleDir(t)
  const log = `${b}/hook.log`
  t.throws(() => hookCommand(['--source', `${b}/config.json`, '--log-file', log], io(state(b)).hookIO), { name: 'HookError', message: `source ${b}/config.json is not a directory` })
  t.match(JSON.parse(readFileSync(log, 'utf8')), { action: 'failed', reason: `source ${b}/config.json is not a directory`, exitCode: 1 })
})

t.test('with a driver, a bundle without config.json is an error', async t => {
  const b = bundleDir(t)
  t.throws(() => hookCommand(['--source', `${b}/source`], io(state(`${b}/rootfs`)).hookIO), { name: 'HookError', message: `bundle config ${b}/rootfs/config.json does not exist` })
})

t.test('a log file that cannot be opened is one warning; the run goes on', async t => {
  const b = bundleDir(t)
  const log = `${b}/no-such-dir/hook.log`
  const skip = io(state(b))
  t.equal(hookCommand(['--source', MISSING, '--log-file', log], skip.hookIO), 0)
  t.same(skip.err, [`nvidia-procfs-hook: warning: cannot open log file ${log}: ENOENT; this run is not logged`])
  const plan = io()
  t.equal(hookCommand(['--rootfs', `${b}/rootfs`, '--source', `${b}/source`, '--dry-run', '--log-file', log], plan.hookIO), 0)
  t.equal(plan.err.length, 1)
  t.match(plan.out, [/^would create /])
  // One stderr line at most: a run that says something else says only that.
  const byHand = io()
  t.equal(hookCommand(['--rootfs', `${b}/rootfs`, '--source', MISSING, '--log-file', log], byHand.hookIO), 0)
  t.same(byHand.err, [`nvidia-procfs-hook: skipped: no NVIDIA driver loaded (${MISSING} does not exist)`])
  t.throws(() => hookCommand(['--source', `${b}/source`, '--log-file', log], io('{}').hookIO), { message: /invalid OCI state/ })
})

t.test('mapsHostRoot reads uid_map', async t => {
  t.equal(mapsHostRoot('         0          0 4294967295\n'), true, 'the initial namespace')
  t.equal(mapsHostRoot('         0     100000      65536\n'), false, '--uidmap 0:100000:65536')
  t.equal(mapsHostRoot('         0       1000          1\n         1     100000      65536\n'), false, 'rootless')
  t.equal(mapsHostRoot('         0       1000          1\n      1000          0          1\n'), true, 'host root mapped to 1000')
  t.equal(mapsHostRoot(''), false, 'no mapping at all')
})

t.test('the rootfs comes from crun\'s root, the bundle, or --rootfs/--bundle', async t => {
  const b = bundleDir(t, { root: { path: '/somewhere/else' } })
  const log = `${b}/hook.log`
  // Dry runs: most of these rootfs paths do not exist, and the log names the rootfs either way.
  const run = (args: string[], stdin?: string) => {
    try {
      hookCommand([...args, '--source', `${b}/source`, '--dry-run', '--log-file', log], io(stdin).hookIO)
    } catch (er) {
      t.match(er, { name: 'HookError', message: /^rootfs .* does not exist$/ })
    }
  }
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
    hookCommand(['--debug', '--source', `${b}/source`, '--dry-run'], io(state(b)).hookIO)
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
