// doctor's hook-phase self-test (src/doctor-runsc-probe.ts) against runsc
// stand-ins, so that it runs where gVisor's real runsc is not installed
// (test/system/doctor-runsc.ts runs it with the real releases): one whose
// `create` is the project's gofer emulation (held to the real gofer by
// test/e2e/runsc-gofer.ts), one that runs no hook, one that runs only the
// first, one that never answers. Nothing may be left behind.
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { doctor } from '../../src/doctor'
import { probeHookPhase } from '../../src/doctor-runsc-probe'
import { ourHook } from '../../src/registration'
import { setSpecDir } from '../harness/cdi-dirs'
import { HOOK } from '../harness/containment'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'

const GOFER = resolve('test/harness/gofer-emulation.mjs')
const work = mkdtempSync(join(tmpdir(), 'nph-doctor-probe-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
// The probe's scratch directories go here, apart from any other doctor on this machine.
process.env.TMPDIR = work
mountFakeDriver(1)
t.teardown(unmountFakeDriver)

/** A runsc stand-in: `create --bundle B ID` does `create`, given the bundle and id; `delete` succeeds. */
const standIn = (name: string, create: string) => {
  const file = join(work, `runsc-${name}`)
  writeFileSync(
    file,
    `#!${process.execPath}
const { spawnSync } = require('node:child_process')
const { readFileSync } = require('node:fs')
const argv = process.argv.slice(2)
if (!argv.includes('create')) process.exit(0)
const logs = (argv.find(a => a.startsWith('--debug-log=')) ?? '').slice('--debug-log='.length)
const bundle = argv[argv.indexOf('--bundle') + 1]
const id = argv[argv.length - 1]
const config = JSON.parse(readFileSync(bundle + '/config.json', 'utf8'))
${create}
`,
  )
  chmodSync(file, 0o755)
  return file
}
// The emulation's JSON report is the test's, not runsc's: only its stderr (the gofer's words) is passed on.
const EMULATED = standIn('emulated', `process.exit(spawnSync(process.execPath, [${JSON.stringify(GOFER)}, bundle, id], { stdio: ['ignore', 'ignore', 'inherit'] }).status ?? 1)`)
const NO_HOOKS = standIn('no-hooks', 'process.exit(0)')
const FIRST_ONLY = standIn('first-only', `const h = config.hooks.createContainer[0]; spawnSync(h.path, h.args.slice(1), { stdio: 'inherit' })`)
const SILENT = standIn('silent', 'spawnSync("/bin/sleep", ["30"])')
// 20260822 skips the nvidia-cdi-hook form itself: the emulation, that hook left out.
const SKIPS_CDI_FORM = standIn(
  'skips-cdi-form',
  `config.hooks.createContainer.splice(1, 1); require('node:fs').writeFileSync(bundle + '/config.json', JSON.stringify(config)); process.exit(spawnSync(process.execPath, [${JSON.stringify(GOFER)}, bundle, id], { stdio: ['ignore', 'ignore', 'inherit'] }).status ?? 1)`,
)
const logs = (line: string) => `require('node:fs').writeFileSync(logs + 'runsc.log.gofer', 'D1203 starting\\n${line}\\n'); process.exit(128)`
const FATAL_HOOKS = standIn('fatal-hooks', logs('FATAL ERROR: error executing CreateContainer hooks: failure executing hook \\"/x\\", err: exit status 1'))
const FATAL_OTHER = standIn('fatal-other', logs('FATAL ERROR: error setting up chroot: permission denied'))
const QUIET_EXIT = standIn('quiet-exit', 'process.exit(3)')
const KILLED = standIn('killed', "process.kill(process.pid, 'SIGKILL')")
// One that leaves a process behind, and a mount in this test's own namespace.
const LEAVES = standIn(
  'leaves',
  `spawnSync('/usr/bin/nsenter', ['--mount=/proc/${process.pid}/ns/mnt', '/usr/bin/mount', '-t', 'tmpfs', 'nph-probe-leak', bundle + '/rootfs']); require('node:child_process').spawn('/bin/sh', ['-c', 'sleep 60; true', bundle], { detached: true, stdio: 'ignore' }).unref(); process.exit(0)`,
)

const ours = ourHook({ binary: HOOK })
const scratchLeft = () => readdirSync(work).filter(n => n.startsWith('nvidia-procfs-hook-doctor-runsc-'))
const mounts = () => readFileSync('/proc/self/mountinfo', 'utf8')

t.test('the gofer emulation with our entry: passes, as runsc 20260520 does', async t => {
  const before = mounts()
  t.match(probeHookPhase(EMULATED, {}, ours), {
    pass: true,
    hooks: 'runs',
    said: 'the sandbox was created; our entry made <rootfs>/proc/driver/nvidia/params readable to the hook after it',
  })
  t.same(scratchLeft(), [], 'no scratch directory left')
  t.equal(mounts(), before, 'no mount left')
})

t.test('without a working entry: fails (its words come from runsc\'s debug log: doctor-runsc.ts)', async t => {
  const r = probeHookPhase(EMULATED, {}, { path: '/bin/false', args: ['false'], env: [] })
  t.match(r, { pass: false, hooks: 'runs' })
  t.not(r.said, 'the sandbox was created but the params probe did not run', 'create failed, it did not pass with the probe missing')
  t.same(scratchLeft(), [])
})

t.test('a runsc that runs no createContainer hook: created, nothing to weigh', async t => {
  t.same(probeHookPhase(NO_HOOKS, {}, ours), { pass: true, said: 'the sandbox was created; this runsc ran no createContainer hook', hooks: 'skips' })
})

t.test('a runsc that stops after the first hook: the params probe never ran', async t => {
  t.same(probeHookPhase(FIRST_ONLY, {}, ours), { pass: false, said: 'the sandbox was created but the params probe did not run', hooks: 'runs-but-nvidia-cdi-hook' })
})

t.test('a runsc that never answers: killed at the timeout, nothing left', async t => {
  t.match(probeHookPhase(SILENT, {}, ours, 1000), { pass: false, said: 'runsc create: no answer within 1 s' })
  t.same(scratchLeft(), [])
})

t.test('the gofer emulation without the nvidia-cdi-hook form (as 20260822 skips it): passes, and says so', async t => {
  t.same(probeHookPhase(SKIPS_CDI_FORM, {}, ours), {
    pass: true,
    said: 'the sandbox was created; our entry made <rootfs>/proc/driver/nvidia/params readable to the hook after it; runsc skipped the nvidia-cdi-hook form',
    hooks: 'runs-but-nvidia-cdi-hook',
  })
})

t.test('a failed create says what runsc\'s debug log says, else its last line, else how it ended', async t => {
  t.match(probeHookPhase(FATAL_HOOKS, {}, ours), { pass: false, said: 'error executing CreateContainer hooks: failure executing hook "/x", err: exit status 1' })
  t.match(probeHookPhase(FATAL_OTHER, {}, ours), { pass: false, said: 'error setting up chroot: permission denied' })
  t.match(probeHookPhase(QUIET_EXIT, {}, ours), { pass: false, said: 'runsc create: exit 3' })
  t.match(probeHookPhase(KILLED, {}, ours), { pass: false, said: 'runsc create: exit SIGKILL' })
  t.same(scratchLeft(), [])
})

t.test('what a sandbox leaves behind fails the self-test, and the scratch directory is kept to look at', async t => {
  const r = probeHookPhase(LEAVES, {}, ours)
  const [kept] = scratchLeft()
  t.match(r, { pass: false, said: `the sandbox was created; this runsc ran no createContainer hook; left behind: 1 mounts, 1 processes under ${join(work, kept as string)}` })
  // Ours to clean: the stand-in's process (named by its bundle path) and its mount.
  for (const pid of readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    try {
      // The stand-in's sh leads its own process group, its sleep in it.
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(join(work, kept as string))) process.kill(-Number(pid), 'SIGKILL')
    } catch {}
  }
  execFileSync('/usr/bin/umount', [join(work, kept as string, 'bundle/rootfs')])
  rmSync(join(work, kept as string), { recursive: true, force: true })
})

t.test('doctor as root with a runsc an engine names: the self-test runs with that runsc', async t => {
  const etc = join(work, 'containerd')
  mkdirSync(etc)
  writeFileSync(
    join(etc, 'config.toml'),
    `version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc]\n  runtime_type = 'io.containerd.runsc.v1'\n  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc.options]\n    ConfigPath = '/etc/containerd/runsc.toml'\n`,
  )
  writeFileSync(join(etc, 'runsc.toml'), `binary_name = "${EMULATED}"\n`)
  t.teardown(setSpecDir('/etc/containerd', etc))
  const verdict = doctor({ root: '/' }, [HOOK]).findings.find(f => f.check === 'gpu-pods' && f.data?.engine === 'containerd')
  t.match(verdict, { data: { selfTest: { pass: true }, hooks: 'runs' }, summary: /hook-phase self-test passed/ })
  t.same(scratchLeft(), [])
})
