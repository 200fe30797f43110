import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { FAKE_PARAMS, mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { mountsUnder, scratchBundle } from '../harness/scratch'
import { ourHook } from '../../src/registration'

// The failure this project exists to remove, and its removal, through the
// emulation of runsc's gofer (test/harness/gofer-emulation.mjs).
const EXE = resolve('dist/nvidia-procfs-hook')
const GOFER = resolve('test/harness/gofer-emulation.mjs')
const STAND_IN = resolve('test/harness/nvidia-hook-stand-in.mjs')

// The entry as registration writes it, pointed at the built executable.
const ours = (logFile: string) => ourHook({ binary: EXE, logFile })
const nvidias = { path: STAND_IN, args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] }

mountFakeDriver()
t.teardown(unmountFakeDriver)

const goferRun = (t: Test, hooks: object[], linux: object = {}) => {
  const { bundle, rootfs } = scratchBundle(t)
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, linux, hooks: { createContainer: hooks } }))
  const res = spawnSync(process.execPath, [GOFER, bundle, 'c1'], { encoding: 'utf8' })
  return { bundle, rootfs, res, report: JSON.parse(res.stdout) as { ok: boolean; params?: string; mounts?: { mountPoint: string; options: string }[] } }
}

t.test('without our hook, NVIDIA\'s hook fails and the container never starts', async t => {
  const { rootfs, res, report } = goferRun(t, [nvidias])
  t.equal(res.status, 1)
  t.match(res.stderr, 'FATAL ERROR: error executing CreateContainer hooks')
  t.match(res.stderr, `open o_path procfd: open ${rootfs}/proc/driver/nvidia/params: no such file or directory`)
  t.equal(report.ok, false)
})

t.test('with our hook first, it succeeds and the gofer root shows ModifyDeviceFiles: 0', async t => {
  const { bundle, rootfs, res, report } = goferRun(t, [ours('/dev/null'), nvidias])
  t.equal(res.status, 0, res.stderr)
  t.equal(report.params, FAKE_PARAMS.replace('ModifyDeviceFiles: 1', 'ModifyDeviceFiles: 0'))
  const ourMount = report.mounts?.find(m => m.mountPoint === '/proc/driver/nvidia')
  t.match(ourMount?.options, /^ro,nosuid,nodev,noexec/)
  t.ok(report.mounts?.find(m => m.mountPoint === '/proc/driver/nvidia/params'), 'NVIDIA\'s params bind on top of ours')
  t.same(mountsUnder(bundle), [], 'every mount died with the gofer\'s namespace')
  t.equal(readFileSync('/proc/driver/nvidia/params', 'utf8'), FAKE_PARAMS, 'host params untouched')
  t.throws(() => readFileSync(join(rootfs, 'proc/driver/nvidia/params')), { code: 'ENOENT' }, 'outside the gofer, nothing is mounted')
})

t.test('order matters: after NVIDIA\'s hook, ours is too late', async t => {
  const { res } = goferRun(t, [nvidias, ours('/dev/null')])
  t.equal(res.status, 1)
  t.match(res.stderr, 'no such file or directory')
})

t.test('the gofer\'s state reaches our hook: pid -1, status creating, inferred createContainer', async t => {
  const { bundle } = scratchBundle(t)
  const log = join(bundle, 'hook.log')
  const hook = { ...ours(log), args: ['nvidia-procfs-hook', '--log-file', log] }
  const { res } = goferRun(t, [hook, nvidias])
  t.equal(res.status, 0, res.stderr)
  t.match(JSON.parse(readFileSync(log, 'utf8')), { id: 'c1', stage: 'createContainer', action: 'mounted' })
})

t.test('a pod with a Bidirectional volume (rootfsPropagation rshared): the gofer\'s own peer group, so mounted', async t => {
  const { bundle, res, report } = goferRun(t, [ours('/dev/null'), nvidias], { rootfsPropagation: 'rshared' })
  t.equal(res.status, 0, res.stderr)
  t.equal(report.params, FAKE_PARAMS.replace('ModifyDeviceFiles: 1', 'ModifyDeviceFiles: 0'))
  t.match(report.mounts?.find(m => m.mountPoint === '/proc/driver/nvidia')?.options, /^ro,nosuid,nodev,noexec/)
  t.same(mountsUnder(bundle), [], 'nothing reached this namespace')
})
