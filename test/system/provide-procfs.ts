import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync } from 'node:child_process'
import { mkdirSync, readFileSync, statSync, writeFileSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { mountFakeDriver, unmountFakeDriver, FAKE_PARAMS } from '../harness/fake-driver'
import { mountsUnder, scratchBundle } from '../harness/scratch'
import { provideProcfs } from '../../src/provide-procfs'
import { mountApi, runUtil, type UtilRunner } from '../../src/mount'
import { readMountinfo } from '../../src/mountinfo'

const SOURCE = '/proc/driver/nvidia'
mountFakeDriver()
t.teardown(unmountFakeDriver)

t.test('binds the driver tree read-only, nosuid, nodev, noexec', async t => {
  const { rootfs } = scratchBundle(t)
  const out = provideProcfs({ rootfs, source: SOURCE })
  t.equal(out.action, 'mounted')
  const target = join(rootfs, 'proc/driver/nvidia')
  t.same(out.action === 'mounted' && out.created, [join(rootfs, 'proc'), join(rootfs, 'proc/driver'), target])
  const m = readMountinfo().filter(e => e.mountPoint === target)
  t.equal(m.length, 1, 'exactly one mount')
  t.match(m[0]?.options, ['ro', 'nosuid', 'nodev', 'noexec'].map(o => new RegExp(`^${o}$`)) as unknown as string[])
  for (const o of ['ro', 'nosuid', 'nodev', 'noexec']) t.ok(m[0]?.options.includes(o), o)
  t.equal(readFileSync(join(target, 'params'), 'utf8'), FAKE_PARAMS, 'same content as the source')
  t.equal(readFileSync(join(target, 'gpus/0000:01:00.0/information'), 'utf8'), readFileSync(join(SOURCE, 'gpus/0000:01:00.0/information'), 'utf8'))
  t.throws(() => writeFileSync(join(target, 'params'), 'x'), { code: 'EROFS' })
  t.throws(() => mkdirSync(join(target, 'new')), { code: 'EROFS' })
  t.equal(statSync(join(rootfs, 'proc')).mode & 0o7777, 0o555)
  t.equal(readFileSync(join(SOURCE, 'params'), 'utf8'), FAKE_PARAMS, 'host file untouched')
})

t.test('a second run is a no-op: one mount', async t => {
  const { rootfs } = scratchBundle(t)
  t.equal(provideProcfs({ rootfs, source: SOURCE }).action, 'mounted')
  const again = provideProcfs({ rootfs, source: SOURCE })
  t.match(again, { action: 'skipped', reason: /params already exists/, warning: false })
  t.equal(mountsUnder(rootfs).length, 1)
})

t.test('no driver: skipped, nothing touched', async t => {
  const { rootfs } = scratchBundle(t)
  const out = provideProcfs({ rootfs, source: '/proc/driver/absent' })
  t.match(out, { action: 'skipped', reason: /no NVIDIA driver loaded/ })
  t.throws(() => statSync(join(rootfs, 'proc')), { code: 'ENOENT' })
})

t.test('params already in the image: skipped', async t => {
  const { rootfs } = scratchBundle(t)
  mkdirSync(join(rootfs, 'proc/driver/nvidia'), { recursive: true })
  writeFileSync(join(rootfs, 'proc/driver/nvidia/params'), 'ModifyDeviceFiles: 0\n')
  t.match(provideProcfs({ rootfs, source: SOURCE }), { action: 'skipped', reason: /already exists/ })
  t.same(mountsUnder(rootfs), [])
})

t.test('rootfs/proc is a procfs: never mounted over', async t => {
  const { rootfs } = scratchBundle(t)
  mkdirSync(join(rootfs, 'proc'))
  execFileSync('/usr/bin/mount', ['-t', 'proc', 'proc', join(rootfs, 'proc')])
  const out = provideProcfs({ rootfs, source: SOURCE })
  t.match(out, { action: 'skipped', warning: true, reason: /procfs without driver\/nvidia/ })
  t.same(mountsUnder(rootfs), [join(rootfs, 'proc')], 'only the procfs')
})

t.test('dry run plans and touches nothing', async t => {
  const { rootfs } = scratchBundle(t)
  mkdirSync(join(rootfs, 'proc'))
  const out = provideProcfs({ rootfs, source: SOURCE, dryRun: true })
  t.same(out, {
    action: 'planned',
    reason: 'mount needed',
    plan: [
      `create ${rootfs}/proc/driver (mode 0555)`,
      `create ${rootfs}/proc/driver/nvidia (mode 0555)`,
      `bind ${SOURCE} onto ${rootfs}/proc/driver/nvidia read-only (ro,nosuid,nodev,noexec)`,
    ],
  })
  t.throws(() => statSync(join(rootfs, 'proc/driver')), { code: 'ENOENT' })
})

t.test('a failure after the bind leaves nothing behind', async t => {
  // The seal: the remount with classic mount(2); with the fd-based API, a bind
  // attached read-write (options dropped), which the verify must refuse.
  const api = mountApi()
  for (const failing of ['seal', 'bind-then-report-failure'] as const) {
    const { rootfs } = scratchBundle(t)
    const run: UtilRunner = (tool, args, fd) => {
      if (failing === 'seal' && args.includes('remount,bind,ro,nosuid,nodev,noexec')) {
        throw new Error('injected remount failure')
      }
      if (failing === 'seal' && api === 'fd-based' && args.includes('--bind')) {
        // Attached without its options, and reported as done: the verify refuses.
        return runUtil(tool, ['--no-canonicalize', '--bind', ...args.slice(-2)], fd)
      }
      const said = runUtil(tool, args, fd)
      if (failing === 'bind-then-report-failure' && args.includes('--bind')) throw new Error('injected failure after bind')
      return said
    }
    t.throws(() => provideProcfs({ rootfs, source: SOURCE, run }), failing === 'seal' && api === 'fd-based' ? /lacks ro,nosuid,nodev,noexec after the bind$/ : /injected/)
    t.same(mountsUnder(rootfs), [], `${failing}: no mount left`)
    t.throws(() => statSync(join(rootfs, 'proc')), { code: 'ENOENT' }, `${failing}: created dirs removed`)
  }
})

t.test('an image symlink in the path is refused, nothing created', async t => {
  const { rootfs, bundle } = scratchBundle(t)
  const outside = join(bundle, 'outside')
  mkdirSync(outside)
  symlinkSync(outside, join(rootfs, 'proc'))
  t.throws(() => provideProcfs({ rootfs, source: SOURCE }), /proc is a symlink, not a directory/)
  t.same(mountsUnder(bundle), [])
  t.throws(() => statSync(join(outside, 'driver')), { code: 'ENOENT' })
})

t.test('the fd-based path in-process: the bind comes attached read-only, is verified, and no remount runs', async t => {
  // util-linux < 2.39 has no fd-based API: stand in for its one call with the
  // bind and a remount by the checked path (test/system/util-linux.ts runs the real one).
  const { rootfs } = scratchBundle(t)
  const target = join(rootfs, 'proc/driver/nvidia')
  const calls: string[][] = []
  const run: UtilRunner = (tool, args, fd) => {
    calls.push([tool, ...args])
    if (!args.includes('-o') || !args.includes('--bind')) return runUtil(tool, args, fd)
    runUtil(tool, args.filter((a, i) => a !== '-o' && args[i - 1] !== '-o'), fd)
    execFileSync('/usr/bin/mount', ['-o', 'remount,bind,ro,nosuid,nodev,noexec', target])
    return ''
  }
  const lock = () => undefined
  t.match(provideProcfs({ rootfs, source: SOURCE, run, lock, api: 'fd-based' }), { action: 'mounted', reason: /read-only at .*\/proc\/driver\/nvidia \(fd-based mount API\)$/ })
  t.same(calls.map(c => c.slice(0, 4)), [['mount', '--no-canonicalize', '--bind', '-o']], 'the bind: nothing else')
  const m = readMountinfo().filter(e => e.mountPoint === target)
  for (const o of ['ro', 'nosuid', 'nodev', 'noexec']) t.ok(m[0]?.options.includes(o), o)
})

t.test('libmount built with the fd-based API that binds with mount(2) after all: its failed remount is done through a fresh fd', async t => {
  // Real with classic util-linux (2.38, this machine): told fd-based, mount(8)
  // binds, then remounts by the fd path, which reaches the covered directory
  // (EINVAL), and exits 32. With a real fd-based one it is the plain path.
  const { rootfs } = scratchBundle(t)
  const target = join(rootfs, 'proc/driver/nvidia')
  const calls: string[][] = []
  const run: UtilRunner = (tool, args, fd) => (calls.push([tool, ...args]), runUtil(tool, args, fd))
  const real = mountApi()
  t.match(provideProcfs({ rootfs, source: SOURCE, run, api: 'fd-based' }), { action: 'mounted', reason: new RegExp(`\\(${real} mount API\\)$`) })
  const mounts = calls.filter(c => c[0] === 'mount').map(c => c.slice(1, 4).join(' '))
  t.same(mounts, real === 'classic' ? ['--no-canonicalize --bind -o', '--no-canonicalize -o remount,bind,ro,nosuid,nodev,noexec'] : ['--no-canonicalize --bind -o'])
  const m = readMountinfo().filter(e => e.mountPoint === target)
  t.equal(m.length, 1, 'one mount')
  for (const o of ['ro', 'nosuid', 'nodev', 'noexec']) t.ok(m[0]?.options.includes(o), o)
})
