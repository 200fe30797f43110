// NVIDIA's stand-in (test/harness/nvidia-hook-stand-in.mjs) held to what
// NVIDIA's real disable-device-node-modification hook does, point by point
// (shared/reference/nvidia.md "NVIDIA's real hook, in detail"): what our
// hook must make succeed has to be the real thing's behaviour.
import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { FAKE_PARAMS, mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { mountsUnder, scratchBundle, stateFor } from '../harness/scratch'

const STAND_IN = resolve('test/harness/nvidia-hook-stand-in.mjs')
const standIn = (input: string, args = ['hook', 'disable-device-node-modification']) =>
  spawnSync(process.execPath, [STAND_IN, ...args], { input, encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } })
/** A rootfs whose proc/driver/nvidia/params exists, as after our hook. */
const ready = (t: Test, configRoot?: object) => {
  const { bundle, rootfs } = scratchBundle(t)
  if (configRoot) writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', ...configRoot }))
  return { bundle, rootfs }
}
const withParams = (dir: string) => {
  mkdirSync(join(dir, 'proc/driver/nvidia'), { recursive: true })
  writeFileSync(join(dir, 'proc/driver/nvidia/params'), 'placeholder\n')
}
const logLine = (msg: string) => new RegExp(`^time="[^"]+" level=error msg=${JSON.stringify(msg).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\n$`)

t.test('the host params come first: none, ModifyDeviceFiles 0 or no exact 1 line: exit 0 without reading stdin', async t => {
  t.same([standIn('').status, standIn('').stderr], [0, ''], 'no driver')
  for (const params of ['ModifyDeviceFiles: 0\n', 'ModifyDeviceFiles: 10\nModifyDeviceFiles:1\n']) {
    mountFakeDriver()
    writeFileSync('/proc/driver/nvidia/params', params)
    const r = standIn('not json')
    unmountFakeDriver()
    t.same([r.status, r.stderr], [0, ''], JSON.stringify(params))
  }
})

t.test('with ModifyDeviceFiles 1', async t => {
  mountFakeDriver()
  t.teardown(unmountFakeDriver)

  t.test('bad stdin: a logrus error line, exit 1', async t => {
    const r = standIn('')
    t.equal(r.status, 1)
    t.match(r.stderr, logLine('failed to load container state: failed to decode container state: EOF'))
  })

  t.test('an unknown hook name: said, exit 0', async t => {
    const r = standIn('', ['hook', 'frobnicate'])
    t.equal(r.status, 0)
    t.match(r.stderr, /level=info msg="Unsupported CDI hook: frobnicate"/)
  })

  t.test('success: a tmpfs scratch dir under <root>/run holding nvct-params, bound over params, never unmounted', async t => {
    const { bundle, rootfs } = ready(t)
    withParams(rootfs)
    const r = standIn(stateFor(bundle))
    t.equal(r.status, 0, r.stderr)
    const [scratch] = readdirSync(join(rootfs, 'run'))
    t.match(scratch, /^nvidia-ctk-hook[0-9a-f-]{36}$/, 'made inside the root, a missing run/ created')
    t.equal(readFileSync(join(rootfs, 'run', scratch as string, 'nvct-params'), 'utf8'), FAKE_PARAMS.replace('ModifyDeviceFiles: 1', 'ModifyDeviceFiles: 0'))
    t.equal(readFileSync(join(rootfs, 'proc/driver/nvidia/params'), 'utf8'), FAKE_PARAMS.replace('ModifyDeviceFiles: 1', 'ModifyDeviceFiles: 0'))
    t.same(mountsUnder(rootfs).sort(), [join(rootfs, 'run', scratch as string), join(rootfs, 'proc/driver/nvidia/params')].sort(), 'both mounts left in place')
  })

  t.test("crun's root \"\" counts as absent; a config.json without root means the bundle", async t => {
    const a = ready(t)
    withParams(a.rootfs)
    t.equal(standIn(stateFor(a.bundle, { root: '' })).status, 0, 'root "": config.json root.path used')
    t.ok(existsSync(join(a.rootfs, 'run')))
    const b = ready(t, {})
    withParams(b.bundle)
    t.equal(standIn(stateFor(b.bundle)).status, 0, 'no root: the bundle')
    t.ok(existsSync(join(b.bundle, 'run')))
  })

  t.test('a run/ symlink out of the root: refused, nothing made outside', async t => {
    const { bundle, rootfs } = ready(t)
    withParams(rootfs)
    const outside = join(bundle, 'outside')
    mkdirSync(outside)
    symlinkSync('../../outside', join(rootfs, 'run'))
    const r = standIn(stateFor(bundle))
    t.equal(r.status, 1)
    t.match(r.stderr, /level=error msg="error creating hook scratch folder: mkdirat .*\/rootfs\/run\/nvidia-ctk-hook[0-9a-f-]+: path escapes from parent"/)
    t.same(readdirSync(outside), [])
  })

  t.test('a read-only rootfs: the scratch folder cannot be made', async t => {
    const { bundle, rootfs } = ready(t)
    withParams(rootfs)
    execFileSync('/usr/bin/mount', ['--bind', rootfs, rootfs])
    execFileSync('/usr/bin/mount', ['-o', 'remount,bind,ro', rootfs])
    const r = standIn(stateFor(bundle))
    t.equal(r.status, 1)
    t.match(r.stderr, /msg="error creating hook scratch folder: mkdirat .*: read-only file system"/, r.stderr)
  })

  t.test('a symlink on the way to params (inside the root): possibly malicious, refused', async t => {
    const { bundle, rootfs } = ready(t)
    withParams(join(rootfs, 'alt'))
    symlinkSync('alt/proc', join(rootfs, 'proc'))
    const r = standIn(stateFor(bundle))
    t.equal(r.status, 1)
    t.match(r.stderr, `msg="failed to mount modified params file: possibly malicious path detected -- refusing to operate on ${rootfs}/proc/driver/nvidia/params"`)
  })

  t.test('params missing: the ENOENT the gofer shows', async t => {
    const { bundle, rootfs } = ready(t)
    const r = standIn(stateFor(bundle))
    t.equal(r.status, 1)
    t.match(r.stderr, `msg="failed to mount modified params file: open o_path procfd: open ${rootfs}/proc/driver/nvidia/params: no such file or directory"`)
  })
})
