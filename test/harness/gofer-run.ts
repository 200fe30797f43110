import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Test } from 'tap'
import { isOurHook } from '../../src/registration'
import { writeBusyboxRootfs } from './busybox-rootfs'
import { mountsUnder } from './scratch'

const GOFER = resolve('test/harness/gofer-emulation.mjs')

/**
 * Runs the createContainer hooks of a config.json an engine gave its runtime
 * (less `drop`, e.g. a capture hook) as runsc's gofer runs them
 * (test/harness/gofer-emulation.mjs), without our entry and with it: without,
 * NVIDIA's hook must fail on the missing params; with it, our read-only bind
 * is there and NVIDIA's hook puts its modified params over it. Needs the
 * fake driver with ModifyDeviceFiles 1; `log` is our entry's --log-file.
 */
export const goferOnConfig = (t: Test, work: string, name: string, config: { hooks: { createContainer: { path: string }[] } }, log: string, drop: (h: { path: string }) => boolean) => {
  for (const registered of [false, true]) {
    const bundle = mkdtempSync(join(work, 'gofer-'))
    writeBusyboxRootfs(join(bundle, 'rootfs'))
    const hooks = config.hooks.createContainer.filter(h => !drop(h) && (registered || !isOurHook(h)))
    // Its mounts' sources (the engine's per-container hosts, hostname, ...) went with the container.
    writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ...config, root: { path: 'rootfs' }, mounts: [], hooks: { createContainer: hooks } }))
    writeFileSync(log, '')
    const res = spawnSync(process.execPath, [GOFER, bundle, `gofer-${name}`], { encoding: 'utf8' })
    const what = `${name}, ${registered ? 'with' : 'without'} our entry`
    if (!registered) {
      t.equal(res.status, 128, `${what}: the gofer fails`)
      t.match(res.stderr, `open ${bundle}/rootfs/proc/driver/nvidia/params: no such file or directory`, `${what}: the stand-in hits ENOENT`)
      t.equal(readFileSync(log, 'utf8'), '')
    } else {
      t.equal(res.status, 0, `${what}: the gofer succeeds (${res.stderr.trim()})`)
      const report = JSON.parse(res.stdout)
      t.match(report.params, /^ModifyDeviceFiles: 0$/m, `${what}: NVIDIA's hook put its modified params in place`)
      t.match(report.mounts.find((m: { mountPoint: string }) => m.mountPoint === '/proc/driver/nvidia'), { options: /^ro,nosuid,nodev,noexec/ }, `${what}: over our read-only bind`)
      t.match(JSON.parse(readFileSync(log, 'utf8')), { stage: 'createContainer', action: 'mounted', rootfs: `${bundle}/rootfs` })
    }
    t.same(mountsUnder(bundle), [], `${what}: nothing mounted here (the gofer's namespace is its own)`)
  }
}
