// gVisor's real runsc, both releases, under the engines users run it with,
// inside the cached Debian sid root (containerd 2.1, podman 5.8, util-linux
// 2.42): containerd through `ctr run -t` (its shim, containerd-shim-runsc-v1)
// and through the CRI as kubelet drives it (a pod sandbox with runtime
// handler runsc, then a container with CDI_devices); podman with `--runtime
// <dir>/runsc`. NVIDIA's real v1.20 hook (`nvidia-ctk hook
// disable-device-node-modification`, the form both releases run) and a fake
// driver with `ModifyDeviceFiles: 1`. Our entry comes from `cdi patch`
// (ctr, podman: /etc/cdi), from the watcher (the CRI: the device plugin's
// compact JSON appearing in /var/run/cdi) and from the package's precreate
// hooks.d file (podman, the spec unpatched). With it, each container runs and
// the gofer's debug log shows both hooks succeed; without it, each fails as
// users see it (never naming NVIDIA), the cause only in that log. runsc's
// global flags `--debug --debug-log` come from a wrapper at /usr/bin/runsc
// for the shim (what an operator's runsc.toml does) and from
// `--runtime-flag` for podman.
import t from 'tap'
import { debianRoot } from '../harness/debian-root'
import { enterPrivateMountNamespace } from '../harness/private-ns'
import { findRealTools, toolDirs } from '../harness/real-tools'

// Building the sid root the first time takes a few minutes.
t.setTimeout(900_000)
const found = findRealTools()
if (typeof found !== 'string') {
  // script(1) gives `ctr run -t` a terminal; the sid root has none (bsdextrautils), Debian 12's needs only libc.
  process.env.NPH_ROOT_BINDS = [...toolDirs(found), '/usr/bin/script'].join(':')
  enterPrivateMountNamespace(() => debianRoot('sid'))
}

import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { writeBusyboxRootfs } from '../harness/busybox-rootfs'
import { setSpecDir } from '../harness/cdi-dirs'
import { startContainerd } from '../harness/containerd'
import { criClient } from '../harness/cri-client'
import { busyboxImage } from '../harness/oci-image'
import { podman } from '../harness/podman'
import { placeFiles, runscChecks, type RealTools } from '../harness/real-tools'
import { containerWork, mountsUnder } from '../harness/scratch'

const EXE = resolve('dist/nvidia-procfs-hook')
const IMAGE = 'docker.io/library/nph-busybox:1'
const EOF_ERROR = 'cannot create sandbox: cannot read client sync file: waiting for sandbox to start: EOF'
const CRI_ERROR = 'error unmarshaling mounts: unexpected end of JSON input'
const OUTPUT = 'echo container-started; echo "GPU_UNDER_TEST=$GPU_UNDER_TEST"'

const main = (tools: RealTools) => {
  const work = containerWork(t, 'nph-e2e-runsc-engines-')
  const etcCdi = join(work, 'etc-cdi')
  mkdirSync(etcCdi)
  t.teardown(setSpecDir('/etc/cdi', etcCdi))
  // The root's /run is this namespace's own tmpfs (enter-root.sh), and runsc
  // 20260822 leaves its null-netns bind under /run/containerd: no overlay there.
  const runCdi = '/var/run/cdi'
  mkdirSync(runCdi)
  const rootfs = join(work, 'rootfs')
  writeBusyboxRootfs(rootfs)
  const hooksDir = join(work, 'hooks.d')
  mkdirSync(hooksDir)
  const { log, logs, spec, reset, records, succeeded, failed, leftovers } = runscChecks(work, EXE)

  let cd: Awaited<ReturnType<typeof startContainerd>>
  t.before(async () => {
    cd = await startContainerd(t, join(work, 'containerd'), ['/etc/cdi', '/var/run/cdi'], IMAGE, "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runsc]\n  runtime_type = 'io.containerd.runsc.v1'\n")
    const imported = cd.ctr('images', 'import', '--local', '--snapshotter', 'native', '--platform', 'linux/amd64', busyboxImage(join(work, 'image'), IMAGE))
    if (imported.status !== 0) throw new Error(`ctr images import: ${imported.stderr}`)
  })

  t.test('the engines under test', async t => {
    for (const [tool, args] of [['containerd', ['--version']], ['podman', ['--version']], ['mount', ['--version']]] as const) t.comment(spawnSync(`/usr/bin/${tool}`, args, { encoding: 'utf8' }).stdout.split('\n')[0] ?? '')
  })

  for (const r of tools.runsc) {
    t.test(`runsc ${r.release}`, async t => {
      // The shim finds runsc on PATH; this one adds the debug flags.
      const wrapper = join(work, `runsc-${r.release}`)
      writeFileSync(wrapper, `#!/bin/sh\nexec ${r.runsc} --debug --debug-log=${logs}/ "$@"\n`, { mode: 0o755 })
      placeFiles(t, { '/usr/bin/runsc': wrapper, '/usr/bin/containerd-shim-runsc-v1': r.shim, '/usr/bin/nvidia-ctk': tools.toolkit.nvidiaCtk, '/usr/bin/nvidia-cdi-hook': tools.toolkit.nvidiaCdiHook })
      t.comment(spawnSync(r.runsc, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '')

      t.test('ctr run -t --device nvidia.com/gpu=0, the spec in /etc/cdi patched by cdi patch', async t => {
        for (const ours of [true, false]) {
          writeFileSync(join(etcCdi, 'nvidia.yaml'), spec('nvidia.com/gpu', '0', 'ctr', false))
          if (ours) {
            const patched = spawnSync(EXE, ['cdi', 'patch', '--binary', EXE, '--log-file', log], { encoding: 'utf8' })
            t.equal(patched.stdout, 'patched /etc/cdi/nvidia.yaml (1 hooks list)\n', patched.stderr)
          }
          reset()
          const id = `ctr-${r.release}-${ours ? 'ours' : 'none'}`
          // -t needs a terminal: script(1) gives it one. Without -t, ctr never returns with this shim (tools/README.md).
          const ctr = ['/usr/bin/ctr', '--address', cd.address, '--namespace', 'k8s.io', 'run', '-t', '--snapshotter', 'native', '--runtime', 'io.containerd.runsc.v1', '--device', 'nvidia.com/gpu=0', IMAGE, id, '/bin/sh', '-c', OUTPUT]
          const began = Date.now()
          const run = spawnSync('/usr/bin/script', ['-qec', ctr.map(a => `'${a.replaceAll("'", "'\\''")}'`).join(' '), '/dev/null'], { encoding: 'utf8', timeout: 120_000 })
          t.comment(`ctr run -t: ${Date.now() - began} ms, exit ${run.status}`)
          // The terminal's CR LF, and its echo (^@) of a NUL written to it first.
          const out = run.stdout.replace(/\r|\^@/g, '')
          if (ours) {
            // With this shim ctr's status is not the container's: 128 or 0 after one that exited 0 (tools/README.md).
            t.equal(out, 'container-started\nGPU_UNDER_TEST=ctr\n', 'with our entry: the container ran, with the device\'s edits')
            succeeded(t, 'ctr')
          } else {
            t.match(out, EOF_ERROR, 'without: ctr says only that the sandbox did not start')
            t.notMatch(out, /nvidia/i)
            t.notMatch(out, /container-started/)
            failed(t, 'ctr')
          }
          cd.ctr('task', 'rm', '--force', id)
          t.equal(cd.ctr('containers', 'rm', id).status, 0, 'ctr containers rm')
          await leftovers(t, `ctr, ${ours ? 'with' : 'without'} our entry`)
        }
        rmSync(join(etcCdi, 'nvidia.yaml'))
      })

      t.test('the CRI as kubelet drives it, runtime handler runsc, the device plugin\'s spec patched by the watcher', async t => {
        const cri = criClient(cd.address, work)
        const device = 'GPU-00000000-0000-0000-0000-000000000000'
        const pluginSpec = join(runCdi, 'k8s.device-plugin.nvidia.com-gpu.json')
        /** A pod with one container asking for `kind`=device; the error of the first call that fails, or the container's log lines. */
        const pod = async (name: string, kind: string, mounts: object[] = []) => {
          const podDir = join(work, `pod-${name}`)
          mkdirSync(podDir)
          const sandboxConfig = {
            metadata: { name, uid: `uid-${name}`, namespace: 'default', attempt: 0 },
            log_directory: podDir,
            linux: { security_context: { namespace_options: { network: 'NODE', pid: 'CONTAINER', ipc: 'POD' } } },
          }
          const began = Date.now()
          const sandbox = await cri.RunPodSandbox?.({ config: sandboxConfig, runtime_handler: 'runsc' })
          const podId = sandbox?.pod_sandbox_id as string
          try {
            const created = await cri.CreateContainer?.({
              pod_sandbox_id: podId,
              sandbox_config: sandboxConfig,
              config: { metadata: { name: 'cuda', attempt: 0 }, image: { image: IMAGE }, command: ['/bin/sh', '-c', OUTPUT], log_path: 'cuda.log', CDI_devices: [{ name: `${kind}=${device}` }], mounts },
            })
            const id = created?.container_id as string
            await cri.StartContainer?.({ container_id: id })
            let state = ''
            for (let i = 0; i < 400 && state !== 'CONTAINER_EXITED'; i++) {
              state = ((await cri.ContainerStatus?.({ container_id: id }))?.status as { state: string }).state
              if (state !== 'CONTAINER_EXITED') await new Promise(res => setTimeout(res, 50))
            }
            const status = (await cri.ContainerStatus?.({ container_id: id }))?.status as { exit_code: number }
            const lines = readFileSync(join(podDir, 'cuda.log'), 'utf8').split('\n').filter(Boolean).map(l => l.split(' ').slice(3).join(' '))
            return { exitCode: status.exit_code, lines }
          } catch (er) {
            return { error: (er as Error).message }
          } finally {
            t.comment(`pod ${name}: ${Date.now() - began} ms`)
            await cri.StopPodSandbox?.({ pod_sandbox_id: podId })
            await cri.RemovePodSandbox?.({ pod_sandbox_id: podId })
          }
        }

        // Without our entry: a spec nobody patched.
        const unpatched = join(runCdi, 'unpatched.json')
        writeFileSync(unpatched, spec('example.com/gpu', device, 'cri', false))
        reset()
        const without = await pod(`nph-${r.release}-none`, 'example.com/gpu')
        t.match(without, { error: CRI_ERROR }, 'without our entry: the CRI says only that it could not read the mounts file')
        t.notMatch(without.error, /nvidia/i)
        failed(t, 'CRI')
        rmSync(unpatched)
        await leftovers(t, 'CRI, without our entry')

        // With it: the watcher running, then the device plugin writes its spec.
        const watcher = spawn(EXE, ['cdi', 'patch', '--watch', '--binary', EXE, '--log-file', log, '/var/run/cdi'], { stdio: ['ignore', 'pipe', 'pipe'] })
        t.teardown(() => {
          if (watcher.exitCode === null) watcher.kill('SIGKILL')
        })
        let said = ''
        watcher.stdout.on('data', d => (said += d))
        for (let i = 0; i < 200 && !said.includes('watching'); i++) await new Promise(res => setTimeout(res, 25))
        const plugin = spec('k8s.device-plugin.nvidia.com/gpu', device, 'cri', false)
        writeFileSync(`${pluginSpec}.tmp`, plugin)
        spawnSync('/usr/bin/mv', [`${pluginSpec}.tmp`, pluginSpec])
        for (let i = 0; i < 200 && !readFileSync(pluginSpec, 'utf8').includes('nvidia-procfs-hook'); i++) await new Promise(res => setTimeout(res, 25))
        t.equal(readFileSync(pluginSpec, 'utf8'), spec('k8s.device-plugin.nvidia.com/gpu', device, 'cri', true), 'the watcher put our entry in front of NVIDIA\'s, and only that')
        reset()
        const withOurs = await pod(`nph-${r.release}-ours`, 'k8s.device-plugin.nvidia.com/gpu')
        t.same(withOurs, { exitCode: 0, lines: ['container-started', 'GPU_UNDER_TEST=cri'] }, 'with it: the pod\'s container ran, with the device\'s edits')
        succeeded(t, 'CRI')

        // A Bidirectional volume (its host path a shared mount, as kubelet
        // requires): containerd's CRI asks rootfsPropagation rshared, which
        // runsc refuses before any hook runs, with our entry or without.
        const volume = join(work, `volume-${r.release}`)
        mkdirSync(volume)
        execFileSync('/usr/bin/mount', ['--bind', volume, volume])
        execFileSync('/usr/bin/mount', ['--make-shared', volume])
        reset()
        const bidirectional = await pod(`nph-${r.release}-bidirectional`, 'k8s.device-plugin.nvidia.com/gpu', [{ container_path: '/data', host_path: volume, propagation: 'PROPAGATION_BIDIRECTIONAL' }])
        t.match(bidirectional, { error: 'root mount propagation option must specify private or slave: "rshared"' }, 'a pod with a Bidirectional volume: runsc refuses rshared')
        t.same(records(), [], 'before any hook ran')
        execFileSync('/usr/bin/umount', [volume])
        const stopped = new Promise(res => watcher.on('exit', res))
        watcher.kill('SIGTERM')
        t.equal(await stopped, 0, 'the watcher stops with 0')
        rmSync(pluginSpec)
        await leftovers(t, 'CRI, with our entry')
      })

      t.test(`podman --runtime ${r.runsc}, the spec in /etc/cdi patched by cdi patch`, async t => {
        const engine = podman(join(work, `podman-${r.release}`))
        for (const ours of [true, false]) {
          writeFileSync(join(etcCdi, 'nvidia.yaml'), spec('nvidia.com/gpu', '0', 'podman', false))
          if (ours) t.equal(spawnSync(EXE, ['cdi', 'patch', '--binary', EXE, '--log-file', log], { encoding: 'utf8' }).status, 0, 'cdi patch')
          reset()
          const began = Date.now()
          const run = engine.run({ runtime: r.runsc, runtimeFlags: ['debug', `debug-log=${logs}/`], hooksDir, device: 'nvidia.com/gpu=0', rootfs, argv: ['/bin/sh', '-c', OUTPUT] })
          t.comment(`podman run: ${Date.now() - began} ms, exit ${run.status}`)
          if (ours) {
            t.equal(run.status, 0, `with our entry: podman run exits 0 (${run.stderr.trim()})`)
            t.equal(run.stdout, 'container-started\nGPU_UNDER_TEST=podman\n', 'the container ran, with the device\'s edits')
            succeeded(t, 'podman')
          } else {
            t.not(run.status, 0, 'without: podman run fails')
            t.match(run.stderr, EOF_ERROR, 'podman says only that the sandbox did not start')
            t.notMatch(run.stderr, /nvidia/i)
            failed(t, 'podman')
          }
          await leftovers(t, `podman, ${ours ? 'with' : 'without'} our entry`)
        }
        rmSync(join(etcCdi, 'nvidia.yaml'))
      })

      t.test(`podman --runtime ${r.runsc}, the spec unpatched, our entry from the package's precreate file (hooks.d)`, async t => {
        const engine = podman(join(work, `podman-precreate-${r.release}`))
        writeFileSync(join(etcCdi, 'nvidia.yaml'), spec('nvidia.com/gpu', '0', 'podman', false))
        // The package's file, pointed at this build and a log.
        const shipped = JSON.parse(readFileSync('hooks.d/nvidia-procfs-hook.json', 'utf8'))
        const precreateDir = join(work, `hooks.d-precreate-${r.release}`)
        mkdirSync(precreateDir)
        writeFileSync(join(precreateDir, 'nvidia-procfs-hook.json'), JSON.stringify({ ...shipped, hook: { ...shipped.hook, path: EXE, args: [...shipped.hook.args, '--binary', EXE, '--log-file', log] } }))
        reset()
        const began = Date.now()
        const run = engine.run({ runtime: r.runsc, runtimeFlags: ['debug', `debug-log=${logs}/`], hooksDir: precreateDir, device: 'nvidia.com/gpu=0', rootfs, argv: ['/bin/sh', '-c', OUTPUT] })
        t.comment(`podman run: ${Date.now() - began} ms, exit ${run.status}`)
        t.equal(run.status, 0, `podman run exits 0 (${run.stderr.trim()})`)
        t.equal(run.stdout, 'container-started\nGPU_UNDER_TEST=podman\n', 'the container ran, with the device\'s edits')
        succeeded(t, 'podman, precreate')
        await leftovers(t, 'podman, precreate')
        rmSync(join(etcCdi, 'nvidia.yaml'))
      })

      t.test("nothing of runsc's left", async t => {
        // The shim's runsc state, and podman's runsc's (its default root).
        for (const state of ['/run/containerd/runsc/k8s.io', '/run/runsc']) t.same(readdirSync(state).filter(f => f !== 'null-netns'), [], `${state}: no container state`)
        t.same(mountsUnder(work), [], "no mount left under containerd's and podman's directories")
        // runsc 20260822's shared null network namespace, bound in each runsc root, is its own.
        t.same(mountsUnder('/run').filter(m => m !== '/run' && !m.endsWith('/null-netns')), [], 'none under /run but runsc\'s null-netns')
      })
    })
  }
}

if (typeof found === 'string') t.plan(0, found)
else main(found)
