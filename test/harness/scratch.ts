import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs'
import { readMountinfo } from '../../src/mountinfo'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { execFileSync } from 'node:child_process'

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
