import { errorCode } from './errors'

/**
 * The libc calls the hook makes in-process, each returning 0 (or an fd) or
 * the errno: flock(2), mount(2), umount2(2), and the fd-based mount calls (Linux >= 5.12
 * for mount_setattr), reached through syscall(2) so that a libc older than
 * their wrappers (glibc 2.36) still serves.
 */
export interface Libc {
  /** flock(2) on an fd. */
  flock: (fd: number, op: number) => number
  /** mount(2) with no type or data, as a bind and a remount are: source path (null for a remount), target path, MS_* flags. */
  mount: (source: string | null, target: string, flags: bigint) => number
  /** open_tree(2) relative to the working directory: a new fd, or the errno negated. */
  openTree: (path: string, flags: bigint) => number
  /** mount_setattr(2) on the tree `fd` holds (AT_EMPTY_PATH): sets the MOUNT_ATTR_* flags given. */
  mountSetattr: (fd: number, attrSet: bigint) => number
  /** move_mount(2) of the tree `fromFd` holds onto the directory `toFd` holds (both by fd, no path walked). */
  moveMount: (fromFd: number, toFd: number) => number
  /** umount2(2): target path, MNT_* flags. */
  umount: (target: string, flags: number) => number
}

/** The part of node:ffi (Node >= 26.1, experimental) used here. */
interface Ffi {
  dlopen: (
    path: null,
    definitions: Record<string, { arguments: string[]; return: string }>,
  ) => {
    functions: {
      flock: (fd: number, op: number) => number
      mount: (source: bigint, target: bigint, type: bigint, flags: bigint, data: bigint) => number
      umount2: (target: bigint, flags: number) => number
      syscall: (nr: bigint, a: bigint, b: bigint, c: bigint, d: bigint, e: bigint) => bigint
      __errno_location: () => bigint
    }
  }
  getInt32: (pointer: bigint) => number
  getRawPointer: (buffer: Buffer) => bigint
}

// <asm-generic/unistd.h>: syscalls added since 5.0 have one number on every architecture.
const SYS_OPEN_TREE = 428n
const SYS_MOVE_MOUNT = 429n
const SYS_MOUNT_SETATTR = 442n
// <linux/mount.h>, <fcntl.h>
const AT_EMPTY_PATH = 0x1000n
const AT_FDCWD = -100n
const MOVE_MOUNT_F_EMPTY_PATH = 0x4n
const MOVE_MOUNT_T_EMPTY_PATH = 0x40n
/** struct mount_attr (MOUNT_ATTR_SIZE_VER0): attr_set, attr_clr, propagation, userns_fd, each a u64. */
const MOUNT_ATTR_SIZE = 32

let loaded: Libc | undefined | null = null

/**
 * flock(2) and the mount calls from the libc this process runs on, through
 * node:ffi; undefined where this Node has none (before 26.1, or run with
 * --no-experimental-ffi): callers then run util-linux instead. Loaded once.
 * The ExperimentalWarning is kept off stderr, where the hook says one line
 * at most (the executable runs with --no-warnings anyway).
 */
export const libc = (): Libc | undefined => {
  if (loaded !== null) return loaded
  const emitWarning = process.emitWarning
  /* c8 ignore next -- called only where node:ffi loads */
  process.emitWarning = () => undefined
  let ffi: Ffi
  try {
    ffi = require('node:ffi') as Ffi
  } catch (er) {
    if (errorCode(er) === 'ERR_UNKNOWN_BUILTIN_MODULE') return (loaded = undefined)
    /* c8 ignore next 2 -- only a node:ffi that fails to load gets here */
    throw er
  } finally {
    process.emitWarning = emitWarning
  }
  /* c8 ignore start -- the tests' Node (20) has no node:ffi; the executable's (26) has: mount-api.ts, faults.ts, load.ts run it */
  let f: ReturnType<Ffi['dlopen']>['functions']
  try {
    const int = 'int32'
    const ptr = 'pointer'
    f = ffi.dlopen(null, {
      flock: { arguments: [int, int], return: int },
      mount: { arguments: [ptr, ptr, ptr, 'uint64', ptr], return: int },
      umount2: { arguments: [ptr, int], return: int },
      // Variadic in C; glibc's and musl's take six longs, which is what the kernel gets.
      syscall: { arguments: ['int64', 'int64', ptr, 'int64', ptr, 'int64'], return: 'int64' },
      __errno_location: { arguments: [], return: ptr },
    }).functions
  } catch (er) {
    // Where no executable memory can be had for the call stubs (node:ffi's own error).
    if (errorCode(er) === 'ERR_RX_MEMORY_NOT_SUPPORTED') return (loaded = undefined)
    throw er
  }
  // errno is read right after the call, on the same thread, before any other JS runs.
  const errno = () => ffi.getInt32(f.__errno_location())
  const status = (rc: number | bigint) => (rc >= 0 ? 0 : errno())
  // A C string that lives as long as the call: the Buffer is held by the caller's frame.
  const cString = (s: string) => Buffer.from(`${s}\0`)
  const EMPTY = cString('')
  return (loaded = {
    flock: (fd, op) => status(f.flock(fd, op)),
    mount: (source, target, flags) => {
      const [s, t] = [source === null ? null : cString(source), cString(target)]
      return status(f.mount(s ? ffi.getRawPointer(s) : 0n, ffi.getRawPointer(t), 0n, flags, 0n))
    },
    umount: (target, flags) => {
      const t = cString(target)
      return status(f.umount2(ffi.getRawPointer(t), flags))
    },
    openTree: (path, flags) => {
      const p = cString(path)
      const fd = f.syscall(SYS_OPEN_TREE, AT_FDCWD, ffi.getRawPointer(p), flags, 0n, 0n)
      return fd >= 0 ? Number(fd) : -errno()
    },
    mountSetattr: (fd, attrSet) => {
      const attr = Buffer.alloc(MOUNT_ATTR_SIZE)
      attr.writeBigUInt64LE(attrSet, 0)
      return status(f.syscall(SYS_MOUNT_SETATTR, BigInt(fd), ffi.getRawPointer(EMPTY), AT_EMPTY_PATH, ffi.getRawPointer(attr), BigInt(MOUNT_ATTR_SIZE)))
    },
    moveMount: (fromFd, toFd) => {
      const e = ffi.getRawPointer(EMPTY)
      return status(f.syscall(SYS_MOVE_MOUNT, BigInt(fromFd), e, BigInt(toFd), e, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH))
    },
  })
}

/** EIO for 5: the name Node gives a system error's `code`. */
export const errnoName = (errno: number): string => {
  const { errno: names } = (require('node:os') as typeof import('node:os')).constants
  return Object.keys(names).find(k => names[k as keyof typeof names] === errno) ?? `errno ${errno}`
}
/* c8 ignore stop */
