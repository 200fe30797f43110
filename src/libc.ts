import { errorCode } from './errors'

/** The libc calls the hook makes in-process, each returning 0 or the errno. */
export interface Libc {
  /** flock(2) on an fd. */
  flock: (fd: number, op: number) => number
  /** mount(2) with no source, type or data, as a remount is: target path, MS_* flags. */
  remount: (target: string, flags: bigint) => number
}

/** The part of node:ffi (Node >= 26.1, experimental) used here. */
interface Ffi {
  dlopen: (
    path: null,
    definitions: Record<string, { arguments: string[]; return: string }>,
  ) => {
    functions: {
      flock: (fd: number, op: number) => number
      mount: (source: bigint, target: string, type: bigint, flags: bigint, data: bigint) => number
      __errno_location: () => bigint
    }
  }
  getInt32: (pointer: bigint) => number
}

let loaded: Libc | undefined | null = null

/**
 * flock(2) and mount(2) from the libc this process runs on, through
 * node:ffi; undefined where this Node has none (before 26.1, or run with
 * --no-experimental-ffi): callers then run util-linux instead. Loaded once.
 * The ExperimentalWarning is kept off stderr, where the hook says one line
 * at most (the executable runs with --no-warnings anyway).
 */
export const libc = (): Libc | undefined => {
  if (loaded !== null) return loaded
  const emitWarning = process.emitWarning
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
  const { functions: f } = ffi.dlopen(null, {
    flock: { arguments: ['int32', 'int32'], return: 'int32' },
    mount: { arguments: ['pointer', 'string', 'pointer', 'uint64', 'pointer'], return: 'int32' },
    __errno_location: { arguments: [], return: 'pointer' },
  })
  // errno is read right after the call, on the same thread, before any other JS runs.
  const errno = (rc: number) => (rc === 0 ? 0 : ffi.getInt32(f.__errno_location()))
  return (loaded = {
    flock: (fd, op) => errno(f.flock(fd, op)),
    remount: (target, flags) => errno(f.mount(0n, target, 0n, flags, 0n)),
  })
}

/** EIO for 5: the name Node gives a system error's `code`. */
export const errnoName = (errno: number): string => {
  const { errno: names } = (require('node:os') as typeof import('node:os')).constants
  return Object.keys(names).find(k => names[k as keyof typeof names] === errno) ?? `errno ${errno}`
}
/* c8 ignore stop */
