// containerd 2.1 from Debian sid, driven as `ctr` drives it and as kubelet
// drives it (the CRI over gRPC), with runc 1.3 and crun 1.28 (runtimes.md
// "Today's runtimes from Debian sid"): a CDI spec of NVIDIA's shape whose
// disable-device-node-modification hook is the stand-in. `ctr run --device`
// reads /etc/cdi, patched by `cdi patch`; the CRI reads the device plugin's
// compact JSON in /var/run/cdi, written while `cdi patch --watch` runs. A
// createContainer hook after NVIDIA's copies the config.json the runtime got.
import t, { type Test } from 'tap'
import { debianRoot } from '../harness/debian-root'
import { enterPrivateMountNamespace } from '../harness/private-ns'
// Building the sid root the first time takes a few minutes.
t.setTimeout(900_000)
enterPrivateMountNamespace(() => debianRoot('sid'))

import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, join, resolve } from 'node:path'
import { setSpecDir } from '../harness/cdi-dirs'
import { startContainerd } from '../harness/containerd'
import { criClient } from '../harness/cri-client'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { goferOnConfig } from '../harness/gofer-run'
import { busyboxImage } from '../harness/oci-image'
import { configCapture, hideHybridCgroup2 } from '../harness/podman'
import { detachUnder } from '../harness/scratch'
import { isNvidiaHook, isOurHook, ourCdiHook, ourHook } from '../../src/registration'

const EXE = resolve('dist/nvidia-procfs-hook')
const STAND_IN = resolve('test/harness/nvidia-hook-stand-in.mjs')
const RUNTIMES = ['runc', 'crun'] as const
const IMAGE = 'docker.io/library/nph-busybox:1'

const work = mkdtempSync(join(tmpdir(), 'nph-e2e-containerd-'))
t.teardown(() => {
  detachUnder(work)
  rmSync(work, { recursive: true, force: true })
})
hideHybridCgroup2()
// A fresh procfs comes before createContainer under runc and crun: our hook
// skips, and NVIDIA's stand-in, with ModifyDeviceFiles 0, has nothing to do.
mountFakeDriver(0)

const bin = join(work, 'bin')
mkdirSync(bin)
symlinkSync(STAND_IN, join(bin, 'nvidia-ctk'))
const NVIDIA = { hookName: 'createContainer', path: join(bin, 'nvidia-ctk'), args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] }
const captured = join(work, 'captured')
const capture = configCapture(work, captured).hook
const CAPTURE = { hookName: 'createContainer', ...capture }

const etcCdi = join(work, 'etc-cdi')
const runCdi = join(work, 'run-cdi')
mkdirSync(etcCdi)
mkdirSync(runCdi)
t.teardown(setSpecDir('/etc/cdi', etcCdi))
t.teardown(setSpecDir('/var/run/cdi', runCdi))
const log = join(work, 'hook.log')

const kind = (h: { path: string }) => (isOurHook(h) ? 'ours' : isNvidiaHook(h) ? 'nvidia' : h.path === capture.path ? 'capture' : h.path)

/** The config.json the runtime got, and our hook's log records since `reset`. */
const outcome = () => {
  const [file] = readdirSync(captured)
  const records = readFileSync(log, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l) as Record<string, unknown>)
  return { config: file ? (JSON.parse(readFileSync(join(captured, file), 'utf8')) as { hooks: { createContainer: { path: string }[] } }) : undefined, records, id: basename(file ?? '', '.json') }
}
const reset = () => {
  rmSync(captured, { recursive: true, force: true })
  mkdirSync(captured)
  writeFileSync(log, '')
}

/** The configs the runtimes got, by run, for the gofer emulation. */
const configs: Record<string, { hooks: { createContainer: { path: string }[] } }> = {}

const checkRun = (t: Test, what: string) => {
  const { config, records, id } = outcome()
  if (config) configs[what] = config
  t.same(config?.hooks.createContainer.map(kind), ['ours', 'nvidia', 'capture'], `${what}: our entry right before NVIDIA's`)
  t.same(config?.hooks.createContainer[0], ourHook({ binary: EXE, logFile: log }), `${what}: exactly our entry, as an OCI hook`)
  t.equal(records.length, 1, `${what}: our hook ran once`)
  t.match(records[0], { id, stage: 'createContainer', action: 'skipped', reason: /proc is a procfs without driver\/nvidia; never mounting over a procfs$/, exitCode: 0 }, `${what}: it found the runtime's procfs and skipped`)
}

let cd: Awaited<ReturnType<typeof startContainerd>>
t.before(async () => {
  cd = await startContainerd(t, join(work, 'containerd'), ['/etc/cdi', '/var/run/cdi'], IMAGE)
  const imported = cd.ctr('images', 'import', '--local', '--snapshotter', 'native', '--platform', 'linux/amd64', busyboxImage(join(work, 'image'), IMAGE))
  if (imported.status !== 0) throw new Error(`ctr images import: ${imported.stderr}`)
})

t.test('the engine and runtimes under test', async t => {
  for (const tool of ['containerd', 'runc', 'crun']) {
    const v = spawnSync(`/usr/bin/${tool}`, ['--version'], { encoding: 'utf8' })
    t.equal(v.status, 0, `${tool} runs`)
    t.comment(v.stdout.split('\n')[0])
  }
})

t.test('ctr run --device nvidia.com/gpu=0 with a spec in /etc/cdi patched by cdi patch', async t => {
  const spec = join(etcCdi, 'nvidia.yaml')
  const flow = (h: object) => JSON.stringify(h)
  writeFileSync(spec, `cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: "0"\n  containerEdits:\n    env: [GPU_UNDER_TEST=0]\ncontainerEdits:\n  hooks:\n  - ${flow(NVIDIA)}\n  - ${flow(CAPTURE)}\n`)
  const patched = spawnSync(EXE, ['cdi', 'patch', '--binary', EXE, '--log-file', log], { encoding: 'utf8' })
  t.equal(patched.stdout, 'patched /etc/cdi/nvidia.yaml (1 hooks list)\n', patched.stderr)
  for (const runtime of RUNTIMES) {
    reset()
    const run = cd.ctr('run', '--rm', '--snapshotter', 'native', '--device', 'nvidia.com/gpu=0', '--runc-binary', `/usr/bin/${runtime}`, IMAGE, `ctr-${runtime}`, '/bin/sh', '-c', 'echo container-started; echo "GPU_UNDER_TEST=$GPU_UNDER_TEST"')
    t.equal(run.status, 0, `${runtime}: ctr run exits 0 (${run.stderr.trim()})`)
    t.equal(run.stdout, 'container-started\nGPU_UNDER_TEST=0\n', `${runtime}: the container ran, with the device's edits`)
    checkRun(t, `ctr, ${runtime}`)
  }
  rmSync(spec)
})

t.test('the CRI as kubelet drives it: the device plugin\'s spec kept patched by cdi patch --watch', async t => {
  const watcher = spawn(EXE, ['cdi', 'patch', '--watch', '--binary', EXE, '--log-file', log, '/var/run/cdi'], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (watcher.exitCode === null) watcher.kill('SIGTERM')
  })
  let said = ''
  watcher.stdout.on('data', d => (said += d))
  for (let i = 0; i < 200 && !said.includes('watching'); i++) await new Promise(r => setTimeout(r, 25))
  // What k8s-device-plugin writes when it (re)starts: compact JSON, no final newline.
  const device = 'GPU-00000000-0000-0000-0000-000000000000'
  const spec = join(runCdi, 'k8s.device-plugin.nvidia.com-gpu.json')
  const plugin = JSON.stringify({ cdiVersion: '0.5.0', kind: 'k8s.device-plugin.nvidia.com/gpu', devices: [{ name: device, containerEdits: { env: ['GPU_UNDER_TEST=cri'] } }], containerEdits: { hooks: [NVIDIA, CAPTURE] } })
  writeFileSync(`${spec}.tmp`, plugin)
  spawnSync('/usr/bin/mv', [`${spec}.tmp`, spec])
  for (let i = 0; i < 200 && !readFileSync(spec, 'utf8').includes('nvidia-procfs-hook'); i++) await new Promise(r => setTimeout(r, 25))
  t.equal(readFileSync(spec, 'utf8'), plugin.replace('"hooks":[', `"hooks":[${JSON.stringify(ourCdiHook({ binary: EXE, logFile: log }))},`), 'the watcher put our entry in, and only that')

  const cri = criClient(cd.address, work)
  const version = await cri.Version?.({})
  t.match(version, { runtime_name: 'containerd', runtime_api_version: 'v1' })
  for (const runtime of RUNTIMES) {
    reset()
    const podDir = join(work, `pod-${runtime}`)
    mkdirSync(podDir)
    // Host network, so no CNI is needed; and then no hostname (runc 1.3 refuses one).
    const sandboxConfig = {
      metadata: { name: `gpu-pod-${runtime}`, uid: `uid-${runtime}`, namespace: 'default', attempt: 0 },
      log_directory: podDir,
      linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
    }
    const pod = await cri.RunPodSandbox?.({ config: sandboxConfig, runtime_handler: runtime }).catch(er => {
      throw new Error(`RunPodSandbox: ${(er as Error).message}; containerd said: ${cd.log()}`)
    })
    const podId = pod?.pod_sandbox_id as string
    t.ok(podId, `${runtime}: pod sandbox running`)
    const created = await cri.CreateContainer?.({
      pod_sandbox_id: podId,
      sandbox_config: sandboxConfig,
      config: {
        metadata: { name: 'cuda', attempt: 0 },
        image: { image: IMAGE },
        command: ['/bin/sh', '-c', 'echo container-started; echo "GPU_UNDER_TEST=$GPU_UNDER_TEST"'],
        log_path: 'cuda.log',
        CDI_devices: [{ name: `k8s.device-plugin.nvidia.com/gpu=${device}` }],
      },
    })
    const id = created?.container_id as string
    await cri.StartContainer?.({ container_id: id })
    let state = ''
    for (let i = 0; i < 200 && state !== 'CONTAINER_EXITED'; i++) {
      state = ((await cri.ContainerStatus?.({ container_id: id }))?.status as { state: string }).state
      if (state !== 'CONTAINER_EXITED') await new Promise(r => setTimeout(r, 50))
    }
    const status = (await cri.ContainerStatus?.({ container_id: id }))?.status as { exit_code: number }
    t.equal(status.exit_code, 0, `${runtime}: the container exited 0`)
    const lines = readFileSync(join(podDir, 'cuda.log'), 'utf8').split('\n').filter(Boolean).map(l => l.split(' ').slice(3).join(' '))
    t.same(lines, ['container-started', 'GPU_UNDER_TEST=cri'], `${runtime}: it ran, with the device's edits`)
    checkRun(t, `CRI, ${runtime}`)
    await cri.StopPodSandbox?.({ pod_sandbox_id: podId })
    await cri.RemovePodSandbox?.({ pod_sandbox_id: podId })
  }
  const stopped = new Promise(r => watcher.on('exit', r))
  watcher.kill('SIGTERM')
  t.equal(await stopped, 0, 'the watcher stops with 0')
})

t.test('gofer emulation (the runsc path) on the configs containerd generated', async t => {
  unmountFakeDriver()
  mountFakeDriver(1)
  for (const [name, config] of Object.entries(configs)) goferOnConfig(t, work, name.replace(/[^a-z]+/gi, '-'), config, log, h => kind(h) === 'capture')
})
