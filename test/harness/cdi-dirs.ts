import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, realpathSync, rmdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join } from 'node:path'
import { readMountinfo } from '../../src/mountinfo'

const mount = (...args: string[]) => execFileSync('/usr/bin/mount', args)
const umount = (path: string) => execFileSync('/usr/bin/umount', [path])

/**
 * Puts an overlay on `path`'s parent with an upper layer on a tmpfs, so that
 * `path` can be made to appear or disappear without touching the host's
 * filesystem. Only inside a private mount namespace. Returns the undo.
 */
const overlayParent = (path: string, make: (upperEntry: string) => void) => {
  const parent = realpathSync(dirname(path))
  const layer = mkdtempSync(join(tmpdir(), 'nph-overlay-'))
  mount('-t', 'tmpfs', '-o', 'mode=0755,size=1m', 'nph-test-overlay', layer)
  mkdirSync(join(layer, 'upper'))
  mkdirSync(join(layer, 'work'))
  make(join(layer, 'upper', basename(path)))
  mount('-t', 'overlay', '-o', `lowerdir=${parent},upperdir=${layer}/upper,workdir=${layer}/work`, 'nph-test-overlay', parent)
  return () => {
    umount(parent)
    umount(layer)
    rmdirSync(layer)
  }
}

/**
 * Points a CDI spec directory (/etc/cdi, /var/run/cdi) of this private
 * mount namespace at `source`, or hides it when `source` is undefined: the
 * engines and our defaults then see only what a test puts there. Returns
 * the undo, which leaves nothing behind on the host.
 */
export const setSpecDir = (path: string, source?: string): (() => void) => {
  // A parent that is already one of these overlays (/etc for /etc/containerd,
  // then /etc/cdi) takes the change in its own tmpfs upper layer: a second
  // overlay on top would hide the first one's binds (lower layers carry no
  // submounts).
  const onOverlay = readMountinfo().filter(m => m.mountPoint === realpathSync(dirname(path))).pop()?.source === 'nph-test-overlay'
  if (source === undefined) {
    if (!existsSync(path)) return () => {}
    // Removing through the overlay writes whiteouts; a fresh overlay takes one made by hand (a 0/0 character device).
    if (onOverlay) {
      rmSync(path, { recursive: true })
      return () => {}
    }
    return overlayParent(path, entry => execFileSync('/usr/bin/mknod', [entry, 'c', '0', '0']))
  }
  let undo = () => {}
  if (!existsSync(path) && onOverlay) {
    mkdirSync(path)
    undo = () => rmdirSync(path)
  } else if (!existsSync(path)) {
    undo = overlayParent(path, entry => mkdirSync(entry))
  }
  mount('--bind', source, path)
  return () => {
    umount(path)
    undo()
  }
}
