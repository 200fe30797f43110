// doctor on this machine, as root, with gVisor's real runsc (both releases,
// test/harness/real-tools.ts) behind containerd 2.1's runtime handlers: one
// verdict per handler for GPU pods, with a fake driver whose version the
// older release's nvproxy lists and one that only the newer lists (both read
// from the binaries), and the hook-phase self-test each runsc runs: a
// sandbox it creates from a scratch bundle with our entry in front of a
// probe that opens <rootfs>/proc/driver/nvidia/params. Nothing may be left:
// no scratch directory, no mount, no process, no runsc state.
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { doctor as doctor_ } from '../../src/doctor'
import type { Finding } from '../../src/doctor-finding'
import { probeHookPhase } from '../../src/doctor-runsc-probe'
import { runscFacts } from '../../src/doctor-runsc'
import { ourCdiHook, ourHook } from '../../src/registration'
import { setSpecDir } from '../harness/cdi-dirs'
import { HOOK, HOOK_ENV } from '../harness/containment'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { findRunsc, processesNaming, type Runsc } from '../harness/real-tools'

const ENGINES = join(__dirname, '../fixtures/engines/containerd-2.1')
const PREFIX = 'nvidia-procfs-hook-doctor-runsc-'
const found = [findRunsc('20260520'), findRunsc('20260822')]
const missing = found.filter((f): f is string => typeof f === 'string')
if (missing.length) t.plan(0, `skipped: ${missing.join('; ')}`)
else suite(found as [Runsc, Runsc])

function suite([old, current]: [Runsc, Runsc]) {
  const work = mkdtempSync(join(tmpdir(), 'nph-doctor-runsc-'))
  t.teardown(() => rmSync(work, { recursive: true, force: true }))
  // The probes' scratch directories go here (TMPDIR), apart from any other doctor running on this machine.
  const scratchParent = join(work, 'tmp')
  spawnSync('/bin/mkdir', [scratchParent])
  process.env.TMPDIR = scratchParent
  const SCRATCH = join(scratchParent, PREFIX)
  const list = (r: Runsc) => {
    const f = runscFacts({ root: '/' }, r.runsc)
    return 'list' in f.drivers ? f.drivers.list : []
  }
  const supported = list(old).find(d => list(current).includes(d)) as string
  const unsupported = list(current).find(d => !list(old).includes(d)) as string

  // containerd 2.1's default configuration with two gVisor handlers, each pointing its shim at one release.
  const containerd = join(work, 'containerd')
  const handler = (name: string, config: string) =>
    readFileSync(join(ENGINES, 'runsc-handlers.toml'), 'utf8').replaceAll('runtimes.runsc', `runtimes.${name}`).replace('/etc/containerd/runsc.toml', config)
  spawnSync('/bin/mkdir', [containerd])
  writeFileSync(
    join(containerd, 'config.toml'),
    readFileSync(join(ENGINES, 'config-default.toml'), 'utf8') +
      handler('runsc', '/etc/containerd/runsc.toml') +
      handler('runsc-new', '/etc/containerd/runsc-new.toml') +
      handler('runsc-kvm', '/etc/containerd/runsc-kvm.toml'),
  )
  writeFileSync(join(containerd, 'runsc.toml'), `binary_name = "${old.runsc}"\n[runsc_config]\n  nvproxy = "true"\n`)
  writeFileSync(join(containerd, 'runsc-new.toml'), `binary_name = "${current.runsc}"\n`)
  // A platform this node does not offer: the self-test runs runsc with the handler's flags, and fails as its pods would.
  writeFileSync(join(containerd, 'runsc-kvm.toml'), `binary_name = "${current.runsc}"\n[runsc_config]\n  platform = "none-such"\n`)
  t.teardown(setSpecDir('/etc/containerd', containerd))
  // NVIDIA's spec, patched to run this build (nothing is installed at /usr/bin here).
  const cdi = join(work, 'cdi')
  spawnSync('/bin/mkdir', [cdi])
  const unpatched = readFileSync(join(__dirname, '../fixtures/cdi/nvidia-ctk.yaml'), 'utf8')
  const patched = unpatched.replace(/^(  )- \{hookName: createContainer, path: \/usr\/bin\/nvidia-ctk/m, `$1- ${JSON.stringify(ourCdiHook({ binary: HOOK }))}\n$&`)
  t.teardown(setSpecDir('/etc/cdi', cdi))
  t.teardown(setSpecDir('/var/run/cdi'))
  mountFakeDriver()
  t.teardown(unmountFakeDriver)

  const withDriver = (version: string) =>
    writeFileSync('/proc/driver/nvidia/version', `NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  ${version}  Release Build  (FAKE-nvidia-driver-for-tests)\n`)
  const mountinfo = () => readFileSync('/proc/self/mountinfo', 'utf8')
  const leftovers = () => readdirSync(scratchParent).filter(n => n.startsWith(PREFIX))
  const doctor = () => {
    const r = spawnSync(HOOK, ['doctor', '--json'], { env: { ...HOOK_ENV, TMPDIR: scratchParent }, encoding: 'utf8', timeout: 120_000 })
    return (JSON.parse(r.stdout) as { findings: Finding[] }).findings
  }
  const verdict = (findings: Finding[], name: string) => findings.find(f => f.check === 'gpu-pods' && f.data?.engine === 'containerd' && f.data?.name === name)

  t.test('a driver both releases support, the spec patched: GPU pods start under each, the self-test passes', async t => {
    withDriver(supported)
    writeFileSync(join(cdi, 'nvidia.yaml'), patched)
    const before = mountinfo()
    const findings = doctor()
    t.match(verdict(findings, 'runsc'), {
      status: 'ok',
      summary: `containerd runsc (${old.runsc}): GPU pods start: nvproxy supports driver ${supported}; hook-phase self-test passed (the sandbox was created; our entry made <rootfs>/proc/driver/nvidia/params readable to the hook after it)`,
      data: { hooks: 'runs', selfTest: { pass: true }, specs: { '/etc/cdi/nvidia.yaml': 'present' }, flags: { nvproxy: 'true' }, start: true },
    })
    t.match(verdict(findings, 'runsc-new'), {
      status: 'ok',
      summary: /hook-phase self-test passed \(.*; runsc skipped the nvidia-cdi-hook form\)$/,
      data: { hooks: 'runs-but-nvidia-cdi-hook', selfTest: { pass: true }, start: true },
    })
    t.same(leftovers(), [], 'no scratch directory left')
    t.equal(mountinfo(), before, 'no mount left')
    t.same(processesNaming(SCRATCH), [], 'no sandbox or gofer left')
  })

  t.test(`driver ${unsupported}: the older release's nvproxy does not list it; an unpatched spec fails both`, async t => {
    withDriver(unsupported)
    const findings = doctor()
    t.match(verdict(findings, 'runsc'), {
      status: 'fail',
      summary: new RegExp(`^containerd runsc \\(.*\\): GPU pods fail: nvproxy does not support driver ${unsupported.replace(/\./g, '\\.')} \\(this runsc lists .*\\): GPU sandboxes fail to start$`),
      fix: new RegExp(`^install a runsc release whose .runsc nvproxy list-supported-drivers. lists ${unsupported.replace(/\./g, '\\.')}`),
    })
    t.match(verdict(findings, 'runsc-new'), { status: 'ok', summary: new RegExp(`nvproxy supports driver ${unsupported.replace(/\./g, '\\.')}`) })
    writeFileSync(join(cdi, 'nvidia.yaml'), unpatched)
    const again = doctor()
    t.match(verdict(again, 'runsc-new'), {
      status: 'fail',
      summary: /GPU pods fail: \/etc\/cdi\/nvidia\.yaml needs nvidia-procfs-hook in front of NVIDIA's disable-device-node-modification/,
      fix: 'nvidia-procfs-hook cdi patch /etc/cdi/nvidia.yaml',
      data: { specs: { '/etc/cdi/nvidia.yaml': 'needed' } },
    })
    t.same(leftovers(), [])
  })

  t.test('the self-test fails with the gofer\'s own error, and leaves nothing', async t => {
    withDriver(supported)
    const before = mountinfo()
    for (const r of [old, current]) {
      const idle = probeHookPhase(r.runsc, {}, { path: '/bin/true', args: ['true'], env: [] })
      t.match(idle, { pass: false, said: /^error executing CreateContainer hooks: failure executing hook ".*\/probe", err: exit status 2/ }, `${r.release}: an entry that binds nothing`)
      const failing = probeHookPhase(r.runsc, {}, { path: '/bin/false', args: ['false'], env: [] })
      t.match(failing, { pass: false, said: /^error executing CreateContainer hooks: failure executing hook "\/bin\/false"/ }, `${r.release}: an entry that fails`)
      t.match(probeHookPhase(r.runsc, {}, ourHook({ binary: HOOK })), { pass: true, hooks: r.release === '20260520' ? 'runs' : 'runs-but-nvidia-cdi-hook' })
    }
    t.same(leftovers(), [])
    t.equal(mountinfo(), before)
    t.same(processesNaming(SCRATCH), [])
  })

  t.test('in-process, as `doctor` runs it: each handler probed with its runsc', async t => {
    withDriver(supported)
    writeFileSync(join(cdi, 'nvidia.yaml'), patched)
    const { findings } = doctor_({ root: '/' }, [HOOK])
    t.match(findings.filter(f => f.check === 'gpu-pods' && f.data?.engine === 'containerd'), [
      { status: 'ok', data: { name: 'runsc', hooks: 'runs', selfTest: { pass: true } } },
      { status: 'ok', data: { name: 'runsc-new', hooks: 'runs-but-nvidia-cdi-hook', selfTest: { pass: true } } },
      { status: 'fail', summary: /GPU pods fail: hook-phase self-test failed: .*none-such/, data: { name: 'runsc-kvm', hooks: 'runs-but-nvidia-cdi-hook', selfTest: { pass: false } } },
    ])
    t.notOk(findings.some(f => f.check === 'hook-phase'), 'no line saying it was not run')
    t.same(leftovers(), [])
  })

  t.test("what the self-test says when runsc cannot create a sandbox, and when something stays behind", async t => {
    const fakes = join(work, 'fakes')
    spawnSync('/bin/mkdir', [fakes])
    const fake = (name: string, body: string) => {
      writeFileSync(join(fakes, name), `#!/bin/sh\n${body}\n`, { mode: 0o755 })
      return join(fakes, name)
    }
    const entry = ourHook({ binary: HOOK })
    t.match(probeHookPhase(old.runsc, { platform: 'none-such' }, entry), { pass: false, said: /none-such/ }, "the engine's flags go along: runsc's own error")
    t.same(probeHookPhase('/nonexistent/runsc', {}, entry), { pass: false, said: 'unshare: failed to execute /nonexistent/runsc: No such file or directory' })
    t.same(probeHookPhase(fake('exit3', 'exit 3'), {}, entry), { pass: false, said: 'runsc create: exit 3' })
    t.same(probeHookPhase(fake('killed', 'kill -9 $$'), {}, entry), { pass: false, said: 'runsc create: exit SIGKILL' })
    t.same(probeHookPhase(fake('quiet', 'exit 0'), {}, entry), { pass: true, said: 'the sandbox was created; this runsc ran no createContainer hook', hooks: 'skips' })
    t.same(probeHookPhase(fake('first-only', 'case "$*" in *create*) : > ../marks/ran ;; esac'), {}, entry), {
      pass: false,
      said: 'the sandbox was created but the params probe did not run',
      hooks: 'runs-but-nvidia-cdi-hook',
    })
    t.same(probeHookPhase(fake('slow', 'case "$*" in *create*) exec sleep 60 ;; esac'), {}, entry, 300), { pass: false, said: 'runsc create: no answer within 0.3 s' })
    const stays = probeHookPhase(fake('stays', 'case "$*" in *create*) setsid tail -f "$PWD/config.json" </dev/null >/dev/null 2>&1 & ;; esac'), {}, entry)
    t.match(stays, { pass: false, said: new RegExp(`^the sandbox was created; this runsc ran no createContainer hook; left behind: 0 mounts, 1 processes under ${SCRATCH}`) })
    // The stand-in's process (this test started it): killed by pid, its scratch directory removed here.
    for (const line of processesNaming(SCRATCH)) process.kill(Number(line.split(' ')[0]), 'SIGKILL')
    for (const dir of leftovers()) rmSync(join(scratchParent, dir), { recursive: true, force: true })
    execFileSync('/usr/bin/mount', ['--bind', '/dev/null', '/usr/bin/unshare'])
    try {
      t.same(probeHookPhase(old.runsc, {}, entry), { pass: false, said: 'runsc create: EACCES' })
    } finally {
      execFileSync('/usr/bin/umount', ['/usr/bin/unshare'])
    }
    t.same(leftovers(), [])
  })
}
