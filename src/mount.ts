import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs'
import { errorCode, errorText, HookError } from './errors'
import { errnoName, libc } from './libc'
import { debugFor } from './log'
import { REQUIRED_OPTIONS } from './mountinfo'

const debug = debugFor('mount')

/** util-linux gets a fixed environment: nothing from ours (locale, PATH, LIBMOUNT_*) reaches it. */
const UTIL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }

/** The fd the child sees as its fd 3, so `/proc/self/fd/3` names exactly the directory we checked. */
export const CHILD_FD = '/proc/self/fd/3'

/**
 * The bind's target. libmount's fd-based API (util-linux >= 2.39) ends a bind
 * with move_mount(2), which does not follow a final magic link: the plain
 * CHILD_FD fails there with EINVAL. Followed as an inner component it works
 * with both APIs and still names the directory fd 3 holds (runtimes.md
 * "util-linux: two mount APIs", measured with 2.38, 2.41 and 2.42).
 */
export const CHILD_DIR = `${CHILD_FD}/.`

export type Tool = 'mount' | 'umount' | 'nsenter' | 'flock'

/** Runs a util-linux tool, optionally with `fd` as its fd 3; returns what it printed, stdout then stderr. */
export type UtilRunner = (tool: Tool, args: string[], fd?: number) => string

/**
 * Runs `path` with `args`, `fd` as its fd 3, and UTIL_ENV. Off the hook's
 * usual path (where this Node has no node:ffi, the rollback, nsenter):
 * child_process is required here, since its start-up is not for every run.
 */
const start = (path: string, args: string[], fd?: number) => {
  const { spawnSync } = require('node:child_process') as typeof import('node:child_process')
  const stdio = fd === undefined ? (['ignore', 'pipe', 'pipe'] as const) : (['ignore', 'pipe', 'pipe', fd] as const)
  const res = spawnSync(path, args, { stdio: [...stdio], env: UTIL_ENV, encoding: 'utf8' })
  if (res.error) return { code: errorText(res.error), status: null, signal: null, printed: '' }
  return { code: undefined, status: res.status, signal: res.signal, printed: res.stdout + res.stderr }
}

/**
 * A runner that looks for the tools in `dirs`, in order, by absolute path:
 * usrmerged hosts have them in /usr/bin, older ones keep mount in /bin.
 */
export const makeRunner =
  (dirs: string[]): UtilRunner =>
  (tool, args, fd) => {
    debug('%s %s%s', tool, args.join(' '), fd === undefined ? '' : ` (fd 3 = our fd ${fd})`)
    for (const dir of dirs) {
      const res = start(`${dir}/${tool}`, args, fd)
      if (res.code === 'ENOENT') continue
      if (res.code !== undefined) throw new HookError(`cannot run ${dir}/${tool}: ${res.code}`)
      if (res.status !== 0) {
        // A failed mount(8) ends with a pointer to dmesg; the reason is the line before it.
        const lines = res.printed.split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('dmesg(1) may have more'))
        const why = lines.pop() || `exit ${res.status ?? res.signal}`
        throw new HookError(`${tool} ${args.join(' ')} failed: ${why}`)
      }
      return res.printed
    }
    throw new HookError(`${tool} not found in ${dirs.join(', ')} (util-linux)`)
  }

export const runUtil = makeRunner(['/usr/bin', '/bin'])

const SEALED = REQUIRED_OPTIONS.join(',')

/**
 * How libmount talks to the kernel: `fd-based` (open_tree, mount_setattr,
 * move_mount; util-linux >= 2.39 built with it lists `fd-based-mount` among
 * its features in `mount --version`) or `classic` mount(2).
 */
export type MountApi = 'fd-based' | 'classic'

/** The feature name libmount's `mount --version` prints, a string in its .rodata (libmount/src/version.c). */
const FD_BASED = Buffer.from('fd-based-mount\0')

/** Where mount(8)'s libmount.so.1 lives: multiarch (Debian, Ubuntu), lib64 (Fedora, RHEL, SUSE), lib (Arch, Alpine). */
export const LIBMOUNT_DIRS = [
  ...Object.entries({ x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' })
    .filter(([arch]) => arch === process.arch)
    .flatMap(([, triplet]) => [`/usr/lib/${triplet}`, `/lib/${triplet}`]),
  '/usr/lib64',
  '/lib64',
  '/usr/lib',
  '/lib',
]

/**
 * The .rodata section of an ELF64 little-endian shared object (x86_64,
 * arm64), where libmount keeps its feature names: ~40 KB of a ~500 KB file.
 * The whole file where the section table says otherwise. ELF layout from
 * <elf.h>: e_shoff at 0x28, e_shentsize 0x3a, e_shnum 0x3c, e_shstrndx 0x3e;
 * in a section header sh_name at 0, sh_offset 0x18, sh_size 0x20.
 */
const rodataOf = (fd: number): Buffer => {
  const size = fstatSync(fd).size
  const inFile = (offset: number, length: number) => offset + length <= size
  const read = (offset: number, length: number) => {
    const b = Buffer.alloc(length)
    readSync(fd, b, 0, length, offset)
    return b
  }
  const head = Buffer.alloc(64)
  const elf64le = readSync(fd, head, 0, 64, 0) === 64 && head.readUInt32BE(0) === 0x7f454c46 && head[4] === 2 && head[5] === 1
  const [entry, count] = [head.readUInt16LE(0x3a), head.readUInt16LE(0x3c)]
  const tableAt = Number(head.readBigUInt64LE(0x28))
  if (elf64le && entry >= 0x28 && inFile(tableAt, entry * count)) {
    const table = read(tableAt, entry * count)
    const section = (i: number) => ({
      name: table.readUInt32LE(i * entry),
      offset: Number(table.readBigUInt64LE(i * entry + 0x18)),
      size: Number(table.readBigUInt64LE(i * entry + 0x20)),
    })
    const strings = section(head.readUInt16LE(0x3e))
    const names = inFile(strings.offset, strings.size) ? read(strings.offset, strings.size) : Buffer.alloc(0)
    for (let i = 0; i < count; i++) {
      const s = section(i)
      if (names.toString('latin1', s.name, names.indexOf(0, s.name)) === '.rodata' && inFile(s.offset, s.size)) return read(s.offset, s.size)
    }
  }
  return readFileSync(fd)
}

/**
 * Which API the host's libmount uses, read from the library itself rather
 * than asked of `mount --version` (a process). A libmount not found in
 * `dirs` counts as classic: its plain bind and remount work with either API.
 * Either way the bind's result is checked in mountinfo, not assumed.
 */
export const mountApi = (dirs: string[] = LIBMOUNT_DIRS): MountApi => {
  for (const dir of dirs) {
    let fd: number
    try {
      fd = openSync(`${dir}/libmount.so.1`, 'r')
    } catch (er) {
      if (errorCode(er) === 'ENOENT') continue
      throw new HookError(`cannot read ${dir}/libmount.so.1: ${errorText(er)}`)
    }
    try {
      return rodataOf(fd).includes(FD_BASED) ? 'fd-based' : 'classic'
    } finally {
      closeSync(fd)
    }
  }
  return 'classic'
}

// <linux/mount.h>, <asm-generic/errno-base.h>, <fcntl.h>: x86_64's and arm64's.
const MS_BIND = 4096n
const OPEN_TREE_CLONE = 1n
const OPEN_TREE_CLOEXEC = 0o2000000n
const MOUNT_ATTR_SEALED = 1n | 2n | 4n | 8n // RDONLY NOSUID NODEV NOEXEC
const ENOSYS = 38

/**
 * Binds `source` onto the directory `targetFd` holds (`shown` names it in
 * errors) and returns the API that made the bind. Where this Node has
 * node:ffi, in this process, no child: with the fd-based API the source is
 * cloned as a detached tree (open_tree), made read-only, nosuid, nodev,
 * noexec there (mount_setattr) and attached onto the fd itself (move_mount),
 * so it is never read-write; a kernel without those calls (ENOSYS, before
 * 5.12) gets classic mount(2), as libmount falls back. With classic mount(2)
 * a bind ignores those flags (runtimes.md): a plain bind through the fd's
 * magic link, which remountReadOnly then seals. Without node:ffi, util-linux
 * mount(8) with the fd as its fd 3, the options given only where its
 * libmount attaches them. Throws HookError.
 */
export const bind = (run: UtilRunner, api: MountApi, source: string, targetFd: number, shown: string): MountApi => {
  const c = libc()
  if (!c) {
    run('mount', ['--no-canonicalize', '--bind', ...(api === 'fd-based' ? ['-o', SEALED] : []), source, CHILD_DIR], targetFd)
    return api
  }
  /* c8 ignore start -- node:ffi: see libc */
  const failed = (call: string, errno: number) => new HookError(`cannot bind ${source} onto ${shown}: ${call}: ${errnoName(errno)}`)
  if (api === 'fd-based') {
    debug('open_tree(2) %s; mount_setattr(2) %s; move_mount(2) onto our fd %d', source, SEALED, targetFd)
    const tree = c.openTree(source, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC)
    if (tree >= 0) {
      try {
        const set = c.mountSetattr(tree, MOUNT_ATTR_SEALED)
        if (set === 0) {
          const moved = c.moveMount(tree, targetFd)
          if (moved !== 0) throw failed('move_mount(2)', moved)
          return 'fd-based'
        }
        if (set !== ENOSYS) throw failed(`mount_setattr(2) ${SEALED}`, set)
      } finally {
        closeSync(tree)
      }
    } else if (-tree !== ENOSYS) throw failed('open_tree(2)', -tree)
    debug('this kernel has no fd-based mount calls (ENOSYS): classic mount(2)')
  }
  const target = `/proc/self/fd/${targetFd}`
  debug('mount(2) --bind %s %s', source, target)
  const errno = c.mount(source, target, MS_BIND)
  if (errno !== 0) throw failed('mount(2) MS_BIND', errno)
  return 'classic'
}
/* c8 ignore stop */

// <linux/mount.h>: what `mount -o remount,bind,ro,nosuid,nodev,noexec` passes to mount(2).
const MS_REMOUNT_SEALED = 1n | 2n | 4n | 8n | 32n | 4096n // RDONLY NOSUID NODEV NOEXEC REMOUNT BIND

/**
 * Remounts the bind that `mountFd` (opened after the bind, so it names the
 * mount's root) holds read-only, nosuid, nodev, noexec: mount(2) in this
 * process through node:ffi where this Node has it (no child process), else
 * util-linux mount(8) given the fd as its fd 3. Throws HookError on failure.
 */
export const remountReadOnly = (run: UtilRunner, mountFd: number): void => {
  const c = libc()
  if (!c) {
    run('mount', ['--no-canonicalize', '-o', `remount,bind,${SEALED}`, CHILD_FD], mountFd)
    return
  }
  /* c8 ignore start -- node:ffi: see libc */
  const target = `/proc/self/fd/${mountFd}`
  debug('mount(2) remount,bind,%s %s', SEALED, target)
  const errno = c.mount(null, target, MS_REMOUNT_SEALED)
  if (errno !== 0) throw new HookError(`mount(2) remount,bind,${SEALED} ${target} failed: ${errnoName(errno)}`)
  /* c8 ignore stop */
}

const MNT_DETACH = 2

/**
 * Detaches the mount `mountFd` (opened on the mount's root) holds: lazy, so
 * an fd still open on it (ours, or a racing process's) cannot keep it
 * attached. umount2(2) in this process where this Node has node:ffi, else
 * util-linux umount(8) given the fd as its fd 3. Throws HookError.
 */
export const detach = (run: UtilRunner, mountFd: number): void => {
  const c = libc()
  if (!c) {
    run('umount', ['--no-canonicalize', '--lazy', CHILD_FD], mountFd)
    return
  }
  /* c8 ignore start -- node:ffi: see libc */
  const target = `/proc/self/fd/${mountFd}`
  debug('umount2(2) %s MNT_DETACH', target)
  const errno = c.umount(target, MNT_DETACH)
  if (errno !== 0) throw new HookError(`umount2(2) ${target} MNT_DETACH failed: ${errnoName(errno)}`)
  /* c8 ignore stop */
}
