import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { readMountinfo } from '../../src/mountinfo'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { mountFakeDriver, unmountFakeDriver } from './fake-driver'
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'

/** A bundle dir with an empty rootfs and config.json; unmounted and removed at teardown. */
export const scratchBundle = (t: Test, rootPath = 'rootfs') => {
  const bundle = mkdtempSync(join(tmpdir(), 'nph-bundle-'))
  const rootfs = join(bundle, 'rootfs')
  mkdirSync(rootfs)
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: rootPath } }))
  t.teardown(() => {
    detachUnder(bundle)
    execFileSync('/usr/bin/rm', ['-rf', '--one-file-system', bundle])
  })
  return { bundle, rootfs }
}

/** Mount points under `dir` in this namespace, deepest first. */
export const mountsUnder = (dir: string): string[] =>
  readMountinfo()
    .map(m => m.mountPoint)
    .filter(p => p === dir || p.startsWith(dir + '/'))
    .reverse()

/** Detaches every mount under `dir`, deepest first, looking again after each: an unmount propagates to peers. */
export const detachUnder = (dir: string) => {
  for (let p = mountsUnder(dir)[0]; p !== undefined; p = mountsUnder(dir)[0]) execFileSync('/usr/bin/umount', ['-l', p])
}

export const stateFor = (bundle: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ ociVersion: '1.0.2', id: 'test-' + process.pid, status: 'creating', pid: -1, bundle, ...extra })

/**
 * A scratch directory `<tmp>/<prefix>XXXXXX` for a test file that runs
 * containers, and the fake driver (ModifyDeviceFiles 1) over /proc/driver;
 * at teardown: the driver unmounted, every mount under the directory
 * detached, the directory removed. Only inside a private mount namespace.
 */
export const containerWork = (t: Test, prefix: string): string => {
  const work = mkdtempSync(join(tmpdir(), prefix))
  t.teardown(() => {
    detachUnder(work)
    rmSync(work, { recursive: true, force: true })
  })
  mountFakeDriver(1)
  t.teardown(unmountFakeDriver)
  return work
}
