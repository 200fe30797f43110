// doctor's hook-phase self-test (src/doctor-runsc-probe.ts) against runsc
// stand-ins, so that it runs where gVisor's real runsc is not installed
// (test/system/doctor-runsc.ts runs it with the real releases): one whose
// `create` is the project's gofer emulation (held to the real gofer by
// test/e2e/runsc-gofer.ts), one that runs no hook, one that runs only the
// first, one that never answers. Nothing may be left behind.
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { probeHookPhase } from '../../src/doctor-runsc-probe'
import { ourHook } from '../../src/registration'
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
