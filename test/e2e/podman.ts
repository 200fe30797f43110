import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { writeBusyboxRootfs } from '../harness/busybox-rootfs'
import { setSpecDir } from '../harness/cdi-dirs'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { configCapture, hideHybridCgroup2, podman } from '../harness/podman'
import { goferOnConfig } from '../harness/gofer-run'
import { detachUnder, mountsUnder } from '../harness/scratch'
import { isNvidiaHook, isOurHook, ourHook } from '../../src/registration'

// podman 4.3 with runc 1.1.5 and crun 1.8.1 from Debian, a CDI spec of
// NVIDIA's shape whose NVIDIA hook is the stand-in (named nvidia-ctk), and
// our entry brought in two ways: the hooks.d precreate file, or `cdi patch`.
// A createContainer hook from hooks.d (podman appends those after CDI's)
// captures the config.json the runtime got.
const EXE = resolve('dist/nvidia-procfs-hook')
const STAND_IN = resolve('test/harness/nvidia-hook-stand-in.mjs')
const RUNTIMES = ['runc', 'crun'] as const

const work = mkdtempSync(join(tmpdir(), 'nph-e2e-podman-'))
t.teardown(() => {
  detachUnder(work)
  rmSync(work, { recursive: true, force: true })
})
hideHybridCgroup2()
// Under runc/crun the container gets a fresh procfs before createContainer,
// and a fake driver tree cannot enter the kernel's procfs: with
// ModifyDeviceFiles 1 the stand-in would fail there on any host without a
// real driver (shown below). 0 sends it down its "nothing to do" path.
mountFakeDriver(0)

const rootfs = join(work, 'rootfs')
writeBusyboxRootfs(rootfs)
const bin = join(work, 'bin')
mkdirSync(bin)
symlinkSync(STAND_IN, join(bin, 'nvidia-ctk'))
const OTHER = { path: '/usr/bin/true', args: ['true'], env: ['OTHER_VENDOR=1'] }
const NVIDIA = { path: join(bin, 'nvidia-ctk'), args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] }
const flow = (h: { path: string; args: string[]; env: string[] }) => `{hookName: createContainer, path: ${h.path}, args: [${h.args.join(', ')}], env: [${h.env.join(', ')}]}`
const SPEC = `# NVIDIA's shape (nvidia-ctk cdi generate), its hook a stand-in; another vendor's hook first
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    env: [GPU_UNDER_TEST=0]
- name: all
  containerEdits:
    env: [GPU_UNDER_TEST=all]
containerEdits:
  env: [NVIDIA_VISIBLE_DEVICES=void]
  hooks:
  - ${flow(OTHER)}
  - ${flow(NVIDIA)}
`
const cdi = join(work, 'cdi')
mkdirSync(cdi)
const specFile = join(cdi, 'nvidia.yaml')
writeFileSync(specFile, SPEC)
t.teardown(setSpecDir('/etc/cdi', cdi))
t.teardown(setSpecDir('/var/run/cdi'))

const log = join(work, 'hook.log')
const captured = join(work, 'captured')
const capture = configCapture(work, captured)
const ours = ourHook({ binary: EXE, logFile: log })

// The shipped precreate file, pointed at this build and a log.
const shipped = JSON.parse(readFileSync('hooks.d/nvidia-procfs-hook.json', 'utf8'))
const hooksDir = (name: string, files: Record<string, unknown>) => {
  const dir = join(work, name)
  mkdirSync(dir)
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), JSON.stringify(v))
  return dir
}
const withPrecreate = hooksDir('hooks-precreate', {
  'nvidia-procfs-hook.json': { ...shipped, hook: { ...shipped.hook, path: EXE, args: [...shipped.hook.args, '--binary', EXE, '--log-file', log] } },
  'zz-capture.json': capture,
})
const captureOnly = hooksDir('hooks-capture', { 'zz-capture.json': capture })

const pm = podman(join(work, 'podman'))
const kind = (h: { path: string }) => (isOurHook(h) ? 'ours' : isNvidiaHook(h) ? 'nvidia' : h.path === capture.hook.path ? 'capture' : h.path)

interface Run {
  config: { hooks: { createContainer: { path: string }[] } }
  /** config.json's text as the runtime got it. */
  text: string
  records: Record<string, unknown>[]
  id: string
  stdout: string
}

/** One container; returns the config.json the runtime ran and our hook's log records. */
const runContainer = (t: Test, runtime: (typeof RUNTIMES)[number], dir: string, expectStart = true, flags: string[] = []): Run => {
  rmSync(captured, { recursive: true, force: true })
  mkdirSync(captured)
  writeFileSync(log, '')
  const res = pm.run({ runtime, hooksDir: dir, device: 'nvidia.com/gpu=0', rootfs, flags, argv: ['/bin/sh', '-c', 'echo container-started; echo "GPU_UNDER_TEST=$GPU_UNDER_TEST"'] })
  if (expectStart) {
    t.equal(res.status, 0, `${runtime}: podman run exits 0 (${res.stderr.trim()})`)
    t.match(res.stdout, /container-started\nGPU_UNDER_TEST=0\n/, `${runtime}: the container started, with the CDI device's edits`)
  }
  const [file] = readdirSync(captured)
  const records = readFileSync(log, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l) as Record<string, unknown>)
  const text = file ? readFileSync(join(captured, file), 'utf8') : ''
  return { config: file ? JSON.parse(text) : undefined, text, records, id: basename(file ?? '', '.json'), stdout: res.stdout + res.stderr }
}

const checkRun = (t: Test, runtime: string, run: Run) => {
  const list = run.config.hooks.createContainer
  t.same(list.map(kind), ['/usr/bin/true', 'ours', 'nvidia', 'capture'], `${runtime}: our entry right before NVIDIA's, after the other vendor's`)
  t.same(list[1], ours, `${runtime}: exactly our entry (absolute binary, fixed env, log file)`)
  t.same(list[2], NVIDIA, `${runtime}: NVIDIA's entry untouched`)
  t.equal(run.records.length, 1, `${runtime}: our hook ran once`)
  t.match(run.records[0], {
    id: run.id,
    stage: 'createContainer',
    rootfs,
    action: 'skipped',
    reason: /proc is a procfs without driver\/nvidia; never mounting over a procfs$/,
    exitCode: 0,
  }, `${runtime}: it found the runtime's fresh procfs and skipped`)
}

const configs: Record<string, Run['config']> = {}

t.test('the engine and runtimes under test', async t => {
  for (const tool of ['podman', 'runc', 'crun']) {
    const v = spawnSync(`/usr/bin/${tool}`, ['--version'], { encoding: 'utf8' })
    t.equal(v.status, 0, `${tool} runs`)
    t.comment(v.stdout.split('\n')[0])
  }
})

t.test('hooks.d precreate: podman puts our entry right before NVIDIA\'s CDI hook', async t => {
  for (const runtime of RUNTIMES) {
    const run = runContainer(t, runtime, withPrecreate)
    checkRun(t, runtime, run)
    configs[`precreate-${runtime}`] = run.config
  }
  t.equal(readFileSync(specFile, 'utf8'), SPEC, 'the spec itself is not touched')
})

t.test('hooks.d precreate with --ulimit core=-1:-1 (2^64-1 in config.json): the number reaches the runtime exact, the container starts', async t => {
  // NVIDIA advises memlock=-1 for GPU and NCCL containers; raising memlock
  // needs CAP_SYS_RESOURCE, which this machine lacks, and core takes the same
  // path. Any --ulimit drops containers.conf's default_ulimits: name them again.
  const ulimits = ['--ulimit', 'core=-1:-1', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096']
  for (const runtime of RUNTIMES) {
    const run = runContainer(t, runtime, withPrecreate, true, ulimits)
    checkRun(t, runtime, run)
    t.match(run.text, /\{"type":"RLIMIT_CORE","hard":18446744073709551615,"soft":18446744073709551615\}/, `${runtime}: RLIMIT_CORE as podman wrote it`)
  }
})

t.test('cdi check fails on the fresh spec; cdi patch fixes it; check passes', async t => {
  const cli = (...args: string[]) => spawnSync(EXE, ['cdi', ...args], { encoding: 'utf8' })
  const fresh = cli('check', cdi)
  t.equal(fresh.status, 1)
  t.equal(fresh.stdout, `${specFile}: needs patching: containerEdits.hooks: no nvidia-procfs-hook before NVIDIA's hooks\n`)
  const patched = cli('patch', '--binary', EXE, '--log-file', log)
  t.equal(patched.status, 0, patched.stderr)
  t.equal(patched.stdout, `patched /etc/cdi/nvidia.yaml (1 hooks list)\n`, 'the default directories, as podman sees them')
  t.equal(readFileSync(specFile, 'utf8'), SPEC.replace(`  - ${flow(NVIDIA)}`, `  - ${flow(ours)}\n  - ${flow(NVIDIA)}`), 'one line added')
  const again = cli('check')
  t.equal(again.status, 0, 'a patched spec passes check')
  t.equal(again.stdout, '')
  t.equal(cli('patch', '--binary', EXE, '--log-file', log).stdout, '', 'patching again changes nothing')
})

t.test('patched spec: podman puts our entry right before NVIDIA\'s CDI hook', async t => {
  for (const runtime of RUNTIMES) {
    const run = runContainer(t, runtime, captureOnly)
    checkRun(t, runtime, run)
    configs[`patched-${runtime}`] = run.config
  }
})

t.test('patched spec and precreate together: precreate passes the config through, our hook runs once', async t => {
  const run = runContainer(t, 'runc', withPrecreate)
  checkRun(t, 'runc', run)
  t.same(mountsUnder(work), [], 'podman --rm left nothing mounted')
})

t.test('not pretended: under runc a fake driver with ModifyDeviceFiles 1 fails the stand-in, our hook or not', async t => {
  unmountFakeDriver()
  mountFakeDriver(1)
  t.teardown(() => {
    unmountFakeDriver()
    mountFakeDriver(0)
  })
  const run = runContainer(t, 'runc', captureOnly, false)
  t.match(run.stdout, /failed to mount modified params file: open o_path procfd: open .*\/proc\/driver\/nvidia\/params: no such file or directory/)
  t.match(run.records[0], { action: 'skipped', reason: /never mounting over a procfs/ }, 'we refuse to mount over the real procfs')
  t.notOk(run.stdout.includes('container-started'))
})

t.test('gofer emulation (the runsc path) on the configs podman generated', async t => {
  unmountFakeDriver()
  mountFakeDriver(1)
  t.teardown(unmountFakeDriver)
  for (const [name, config] of Object.entries(configs)) {
    if (name.endsWith('-runc')) goferOnConfig(t, work, name, config, log, h => kind(h) === 'capture')
  }
})
