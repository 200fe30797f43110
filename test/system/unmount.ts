import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync } from 'node:child_process'
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { unmountCommand, UNMOUNT_USAGE } from '../../src/unmount'
import { provideProcfs } from '../../src/provide-procfs'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { mountsUnder, scratchBundle } from '../harness/scratch'

const SOURCE = '/proc/driver/nvidia'
mountFakeDriver()
t.teardown(unmountFakeDriver)

const run = (argv: string[]) => {
  const out: string[] = []
  return { code: unmountCommand(argv, l => out.push(l)), out }
}

t.test('undoes a standalone run, and only that', async t => {
  const { rootfs } = scratchBundle(t)
  t.equal(provideProcfs({ rootfs, source: SOURCE }).action, 'mounted')
  t.same(run(['--rootfs', rootfs]), { code: 0, out: [`unmounted ${rootfs}/proc/driver/nvidia`] })
  t.same(mountsUnder(rootfs), [])
  t.throws(() => run(['--rootfs', rootfs]), { message: `${rootfs}/proc/driver/nvidia is not a mount of ${SOURCE}; leaving it alone` }, 'the directory stays, the mount is gone')
})

t.test('anything else mounted there is left alone', async t => {
  const { rootfs } = scratchBundle(t)
  const target = join(rootfs, 'proc/driver/nvidia')
  mkdirSync(target, { recursive: true })
  execFileSync('/usr/bin/mount', ['-t', 'tmpfs', 'other', target])
  t.throws(() => run(['--rootfs', rootfs]), { name: 'HookError', message: /is not a mount of \/proc\/driver\/nvidia; leaving it alone/ })
  t.same(mountsUnder(rootfs), [target])
  t.throws(() => run(['--rootfs', rootfs, '--source', '/nonexistent']), { message: /is not a mount of \/nonexistent/ }, 'no source: nothing can be ours')
})

t.test('nothing there, and misuse', async t => {
  const { rootfs } = scratchBundle(t)
  t.throws(() => run(['--rootfs', rootfs]), { message: `${rootfs}/proc/driver/nvidia does not exist; nothing to unmount` })
  t.same(run(['--help']), { code: 0, out: [UNMOUNT_USAGE] })
  t.throws(() => run([]), { name: 'UsageError', message: 'unmount: --rootfs DIR is required' })
  t.throws(() => run(['--rootfs', 'rel']), { name: 'UsageError', message: 'unmount: rel is not an absolute path' })
  t.throws(() => run(['--rootfs', '/r', 'extra']), { name: 'UsageError', message: 'unmount: unexpected argument "extra"' })
})
