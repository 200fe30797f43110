// gVisor's real runsc, both releases, under this machine's podman (Debian
// 12: podman 4.3.1, util-linux 2.38), with `--runtime <dir>/runsc` (a
// wrapper that adds runsc's root and debug flags) and
// NVIDIA's real hook: our entry from `cdi patch`, and from the package's
// precreate hooks.d file with the spec unpatched; without it, the failure as
// users see it. test/e2e/runsc-engines.ts does the same with podman 5.8 and
// containerd 2.1 in the sid root (util-linux 2.42).
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()
// Each real sandbox takes a fraction of a second; a loaded machine, more than tap's 30 s for the file.
t.setTimeout(300_000)

import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { writeBusyboxRootfs } from '../harness/busybox-rootfs'
import { setSpecDir } from '../harness/cdi-dirs'
import { podman } from '../harness/podman'
import { findRealTools, placeFiles, runscChecks, type RealTools } from '../harness/real-tools'
import { containerWork, mountsUnder } from '../harness/scratch'
import { EXE } from '../harness/target'

const OUTPUT = 'echo container-started; echo "GPU_UNDER_TEST=$GPU_UNDER_TEST"'

const main = (tools: RealTools) => {
  // Short: podman 4.3 refuses a runroot longer than 50 characters.
  const work = containerWork(t, 'nph-rp-')
  const etcCdi = join(work, 'etc-cdi')
  mkdirSync(etcCdi)
  t.teardown(setSpecDir('/etc/cdi', etcCdi))
  const rootfs = join(work, 'rootfs')
  writeBusyboxRootfs(rootfs)
  const noHooks = join(work, 'hooks.d')
  mkdirSync(noHooks)
  // The package's precreate file, pointed at this build and a log.
  const { log, logs, spec, reset, succeeded, failed, leftovers } = runscChecks(work, EXE)
  const shipped = JSON.parse(readFileSync('hooks.d/nvidia-procfs-hook.json', 'utf8'))
  const precreate = join(work, 'hooks.d-precreate')
  mkdirSync(precreate)
  writeFileSync(join(precreate, 'nvidia-procfs-hook.json'), JSON.stringify({ ...shipped, hook: { ...shipped.hook, path: EXE, args: [...shipped.hook.args, '--binary', EXE, '--log-file', log] } }))
  placeFiles(t, { '/usr/bin/nvidia-ctk': tools.toolkit.nvidiaCtk, '/usr/bin/nvidia-cdi-hook': tools.toolkit.nvidiaCdiHook })
  t.comment(spawnSync('/usr/bin/podman', ['--version'], { encoding: 'utf8' }).stdout.trim())

  for (const r of tools.runsc) {
    t.test(`podman --runtime <dir>/runsc, runsc ${r.release} (${r.runsc})`, async t => {
      const engine = podman(join(work, `p${r.release}`))
      // runsc's root and debug flags from a wrapper: podman's cleanup after
      // the container runs the runtime again without --runtime-flag, and
      // runsc's default root would be the host's /run/runsc.
      const runscRoot = join(work, `runsc-root-${r.release}`)
      const runtime = join(work, `r${r.release}`, 'runsc')
      mkdirSync(dirname(runtime))
      writeFileSync(runtime, `#!/bin/sh\nexec ${r.runsc} --root=${runscRoot} --debug --debug-log=${logs}/ "$@"\n`, { mode: 0o755 })
      const run = (hooksDir: string) => {
        reset()
        const began = Date.now()
        const res = engine.run({ runtime, hooksDir, device: 'nvidia.com/gpu=0', rootfs, argv: ['/bin/sh', '-c', OUTPUT] })
        t.comment(`podman run: ${Date.now() - began} ms, exit ${res.status}`)
        return res
      }
      const ran = (res: ReturnType<typeof run>, what: string) => {
        t.equal(res.status, 0, `${what}: podman run exits 0 (${res.stderr.trim()})`)
        t.equal(res.stdout, 'container-started\nGPU_UNDER_TEST=podman\n', `${what}: the container ran, with the device's edits`)
        succeeded(t, what)
      }

      writeFileSync(join(etcCdi, 'nvidia.yaml'), spec('nvidia.com/gpu', '0', 'podman', false))
      const without = run(noHooks)
      t.not(without.status, 0, 'without our entry: podman run fails')
      t.match(without.stderr, 'cannot create sandbox: cannot read client sync file: waiting for sandbox to start: EOF', 'podman says only that the sandbox did not start')
      t.notMatch(without.stderr, /nvidia/i)
      failed(t, 'without our entry')
      await leftovers(t, 'without our entry')

      ran(run(precreate), "the package's precreate file, the spec unpatched")
      await leftovers(t, 'precreate')

      const patched = spawnSync(EXE, ['cdi', 'patch', '--binary', EXE, '--log-file', log], { encoding: 'utf8' })
      t.equal(patched.stdout, 'patched /etc/cdi/nvidia.yaml (1 hooks list)\n', patched.stderr)
      ran(run(noHooks), 'the spec patched by cdi patch')
      await leftovers(t, 'cdi patch')

      t.same(readdirSync(runscRoot).filter(f => f !== 'null-netns'), [], 'no runsc state left')
      t.same(mountsUnder(work).filter(m => m !== join(runscRoot, 'null-netns')), [], "no mount left but runsc 20260822's own null-netns")
      rmSync(join(etcCdi, 'nvidia.yaml'))
    })
  }
}

const tools = findRealTools()
if (typeof tools === 'string') t.plan(0, tools)
else main(tools)
