import { constants, fstatSync, openSync, mkdirSync, chmodSync, rmdirSync, closeSync, type Stats } from 'node:fs'
import { errorCode, errorText, HookError } from './errors'

// Not exported by node:fs; values from <asm-generic/fcntl.h>.
export const O_PATH = 0o10000000
export const O_CLOEXEC = 0o2000000

/** A path through which the kernel resolves relative to an open fd, like openat(2). */
export const fdPath = (fd: number, name?: string) => (name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`)

export interface Entry {
  fd: number
  stat: Stats
}

export const describeKind = (st: Stats): string =>
  st.isDirectory() ? 'a directory'
  : st.isSymbolicLink() ? 'a symlink'
  : st.isFile() ? 'a regular file'
  : st.isFIFO() ? 'a fifo'
  : st.isSocket() ? 'a socket'
  : st.isBlockDevice() ? 'a block device'
  : 'a character device'

/** Opens the rootfs itself. Its path comes from the runtime, so symlinks in it are followed. */
export const openRoot = (path: string): Entry => {
  let fd: number
  try {
    fd = openSync(path, O_PATH | O_CLOEXEC | constants.O_DIRECTORY)
  } catch (er) {
    const code = errorCode(er)
    throw new HookError(
      code === 'ENOENT' ? `rootfs ${path} does not exist`
      : code === 'ENOTDIR' ? `rootfs ${path} is not a directory`
      : `cannot open rootfs ${path}: ${errorText(er)}`,
    )
  }
  return { fd, stat: fstatSync(fd) }
}

/**
 * Opens `name` inside the directory `dirFd` without following a symlink in
 * its place. Returns undefined when it does not exist. Whatever it is gets
 * returned (as an O_PATH fd) so the caller can say what it found.
 */
export const openEntry = (dirFd: number, name: string): Entry | undefined => {
  let fd: number
  try {
    fd = openSync(fdPath(dirFd, name), O_PATH | O_CLOEXEC | constants.O_NOFOLLOW)
  } catch (er) {
    if (errorCode(er) === 'ENOENT') return undefined
    throw er
  }
  return { fd, stat: fstatSync(fd) }
}

/** Like openEntry, but the entry must be a plain directory; `shown` names it in errors. */
export const openDirEntry = (dirFd: number, name: string, shown: string): Entry | undefined => {
  const entry = openEntry(dirFd, name)
  if (entry && !entry.stat.isDirectory()) {
    closeSync(entry.fd)
    throw new HookError(`${shown} is ${describeKind(entry.stat)}, not a directory; refusing to use it`)
  }
  return entry
}

/**
 * Creates `name` (mode 0555, as the kernel shows /proc directories) inside
 * `dirFd` and opens what was created. mkdir(2) never follows a symlink in the
 * last component, and the open refuses one swapped in after it.
 */
export const createDirEntry = (dirFd: number, name: string, shown: string): Entry => {
  const path = fdPath(dirFd, name)
  try {
    mkdirSync(path, 0o555)
  } catch (er) {
    throw new HookError(`cannot create ${shown}: ${errorText(er)}`)
  }
  const entry = openDirEntry(dirFd, name, shown)
  /* c8 ignore next -- only a racing rmdir or rename gets here: test/system/adversarial-race.ts */
  if (!entry) throw new HookError(`${shown} vanished after it was created`)
  // mkdir's mode is filtered by the umask; chmod through the fd we checked.
  chmodSync(fdPath(entry.fd), 0o555)
  return entry
}

/**
 * Opens an absolute path without following a final symlink; undefined when a
 * component is missing or not a directory. For paths the kernel just gave us
 * (readlink of an fd), which a racing rename may already have changed:
 * callers check what they got.
 */
export const openPath = (path: string): Entry | undefined => {
  let fd: number
  try {
    fd = openSync(path, O_PATH | O_CLOEXEC | constants.O_NOFOLLOW)
  } catch (er) {
    if (errorCode(er) === 'ENOENT' || errorCode(er) === 'ENOTDIR') return undefined
    throw er
  }
  return { fd, stat: fstatSync(fd) }
}

/**
 * Removes the directory this run created as `name`, if that name still holds
 * it: a racing rename may have put another directory there, which is not ours.
 */
export const removeDirEntry = (dirFd: number, name: string, made: Stats): void => {
  const now = openEntry(dirFd, name)
  if (!now) return
  closeSync(now.fd)
  if (now.stat.dev === made.dev && now.stat.ino === made.ino) rmdirSync(fdPath(dirFd, name))
}
