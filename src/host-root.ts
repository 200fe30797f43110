import { closeSync, constants, openSync, readlinkSync, statSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { errorText, HookError, UsageError } from './errors'
import { fdPath, O_CLOEXEC, O_PATH, openEntry } from './in-root'
import type { Flags } from './parse-args'

/** --host-root: where the host's / is seen (a pod mounts it at /host; tests at a temp dir). */
export const hostRootFrom = (flags: Flags, command: string): string => {
  const root = (flags['host-root'] as string | undefined) ?? '/'
  if (!isAbsolute(root)) throw new UsageError(`${command}: --host-root must be an absolute path`)
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${command}: --host-root ${root} is not a directory`)
  return root
}

/** Linux's MAXSYMLINKS: more links than this in one resolution is ELOOP. */
const MAX_LINKS = 40

/**
 * Where the host path `path` (absolute, as the host names it) is seen under
 * `root`: resolved as the host's kernel would resolve it with `root` as its
 * `/` (openat2's RESOLVE_IN_ROOT). Each component is opened with
 * in-root.ts's openEntry, the primitive the rootfs walk uses, so no symlink
 * is followed by the kernel; a symlink's target is read and walked again,
 * from `root` when absolute (`/var/run -> /run` on Debian and Ubuntu), and
 * `..` stops at `root`. A component that does not exist ends the walk: the
 * rest is joined as written (`..` still stopped at `root`), since callers
 * may create it. With `root` `/` the path is returned as given.
 * Returns an absolute path under `root`. Throws HookError naming `path` and
 * `root` for a loop (over 40 links), a non-directory in the middle, or an
 * error other than ENOENT.
 */
export const hostPath = (root: string, path: string): string => {
  if (root === '/') return path
  const fail = (why: string): never => {
    throw new HookError(`cannot resolve ${path} under host root ${root}: ${why}`)
  }
  let rootFd: number
  try {
    rootFd = openSync(root, O_PATH | O_CLOEXEC | constants.O_DIRECTORY)
  } catch (er) {
    return fail(errorText(er))
  }
  const fds = [rootFd]
  const names: string[] = []
  const todo = path.split('/').reverse()
  let missing = false
  let links = 0
  const up = () => {
    if (!names.length) return
    names.pop()
    if (!missing) closeSync(fds.pop() as number)
  }
  try {
    while (todo.length) {
      const name = todo.pop() as string
      if (name === '' || name === '.') continue
      if (name === '..') {
        up()
        continue
      }
      if (missing) {
        names.push(name)
        continue
      }
      const dir = fds[fds.length - 1] as number
      let entry
      try {
        entry = openEntry(dir, name)
      } catch (er) {
        return fail(`${join('/', ...names, name)}: ${errorText(er)}`)
      }
      if (entry === undefined) {
        missing = true
        names.push(name)
        continue
      }
      if (entry.stat.isSymbolicLink()) {
        closeSync(entry.fd)
        if (++links > MAX_LINKS) fail('too many levels of symbolic links')
        let target: string
        try {
          target = readlinkSync(fdPath(dir, name))
          /* c8 ignore start -- only a link removed between open and readlink */
        } catch (er) {
          return fail(`${join('/', ...names, name)}: ${errorText(er)}`)
        }
        /* c8 ignore stop */
        if (target.startsWith('/')) while (names.length) up()
        todo.push(...target.split('/').reverse())
        continue
      }
      fds.push(entry.fd)
      names.push(name)
      if (!entry.stat.isDirectory() && todo.some(n => n !== '' && n !== '.')) fail(`${join('/', ...names)} is not a directory`)
    }
    return join(root, ...names)
  } finally {
    for (const fd of fds) closeSync(fd)
  }
}
