import { closeSync, readSync } from 'node:fs'
import { errorCode } from './errors'

/** The libc calls the hook makes in-process, each returning 0 or the errno. */
export interface Libc {
  /** flock(2) on an fd. */
  flock: (fd: number, op: number) => number
  /** mount(2) with no source, type or data, as a remount is: target path, MS_* flags. */
  remount: (target: string, flags: bigint) => number
  /** Runs a program to its end: see spawnWith. */
  spawn: (path: string, argv: string[], env: string[], fd3?: number) => Spawned
}

/**
 * What a program run by Libc.spawn did: `errno` when it could not be started
 * (ENOENT, EACCES: posix_spawn reports exec's error), else its exit `status`
 * or the `signal` that ended it, and all it wrote to stdout and stderr (one
 * pipe, in the order written).
 */
export interface Spawned {
  errno: number
  status: number | null
  signal: string | null
  output: string
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
      pipe2: (fds: Buffer, flags: number) => number
      waitpid: (pid: number, status: Buffer, options: number) => number
      posix_spawn: (pid: Buffer, path: string, actions: Buffer, attr: Buffer, argv: Buffer, envp: Buffer) => number
      posix_spawn_file_actions_init: (actions: Buffer) => number
      posix_spawn_file_actions_destroy: (actions: Buffer) => number
      posix_spawn_file_actions_adddup2: (actions: Buffer, fd: number, newFd: number) => number
      posix_spawn_file_actions_addopen: (actions: Buffer, fd: number, path: string, flags: number, mode: number) => number
      posix_spawnattr_init: (attr: Buffer) => number
      posix_spawnattr_destroy: (attr: Buffer) => number
      posix_spawnattr_setflags: (attr: Buffer, flags: number) => number
      posix_spawnattr_setsigmask: (attr: Buffer, set: Buffer) => number
      posix_spawnattr_setsigdefault: (attr: Buffer, set: Buffer) => number
    }
  }
  getInt32: (pointer: bigint) => number
  getRawPointer: (buffer: Buffer) => bigint
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
    const buf = 'buffer'
    f = ffi.dlopen(null, {
      flock: { arguments: [int, int], return: int },
      mount: { arguments: ['pointer', 'string', 'pointer', 'uint64', 'pointer'], return: int },
      __errno_location: { arguments: [], return: 'pointer' },
      pipe2: { arguments: [buf, int], return: int },
      waitpid: { arguments: [int, buf, int], return: int },
      posix_spawn: { arguments: [buf, 'string', buf, buf, buf, buf], return: int },
      posix_spawn_file_actions_init: { arguments: [buf], return: int },
      posix_spawn_file_actions_destroy: { arguments: [buf], return: int },
      posix_spawn_file_actions_adddup2: { arguments: [buf, int, int], return: int },
      posix_spawn_file_actions_addopen: { arguments: [buf, int, 'string', int, int], return: int },
      posix_spawnattr_init: { arguments: [buf], return: int },
      posix_spawnattr_destroy: { arguments: [buf], return: int },
      posix_spawnattr_setflags: { arguments: [buf, 'int16'], return: int },
      posix_spawnattr_setsigmask: { arguments: [buf, buf], return: int },
      posix_spawnattr_setsigdefault: { arguments: [buf, buf], return: int },
    }).functions
  } catch (er) {
    // Where no executable memory can be had for the call stubs (node:ffi's own error).
    if (errorCode(er) === 'ERR_RX_MEMORY_NOT_SUPPORTED') return (loaded = undefined)
    throw er
  }
  // errno is read right after the call, on the same thread, before any other JS runs.
  const errno = (rc: number) => (rc === 0 ? 0 : ffi.getInt32(f.__errno_location()))
  return (loaded = {
    flock: (fd, op) => errno(f.flock(fd, op)),
    remount: (target, flags) => errno(f.mount(0n, target, 0n, flags, 0n)),
    spawn: (path, argv, env, fd3) => spawnWith(ffi, f, path, argv, env, fd3),
  })
}

// <fcntl.h>, <spawn.h>, <errno.h>: the same on x86_64 and arm64, glibc and musl.
const O_CLOEXEC = 0o2000000
const POSIX_SPAWN_SETSIGDEF = 4
const POSIX_SPAWN_SETSIGMASK = 8
const EINTR = 4
/** Larger than glibc's and musl's posix_spawn_file_actions_t (80 bytes) and posix_spawnattr_t (336). */
const OPAQUE = 1024
/** sigset_t: 1024 bits in glibc and musl; all clear is sigemptyset's, all set a superset of sigfillset's. */
const SIGSET_BYTES = 128

/** A NUL-terminated array of C strings, and the buffers it points into (kept alive by the caller). */
const cStrings = (ffi: Ffi, strings: string[]) => {
  const held = strings.map(s => Buffer.from(`${s}\0`))
  const array = new BigUint64Array(held.length + 1)
  held.forEach((b, i) => (array[i] = ffi.getRawPointer(b)))
  return { held, array: Buffer.from(array.buffer) }
}

/**
 * posix_spawn(3) (glibc and musl start the child with CLONE_VM|CLONE_VFORK:
 * Node's memory is not copied, unlike libuv's fork) with stdin /dev/null,
 * stdout and stderr into one pipe, `fd3` as fd 3, every signal back to its
 * default and none blocked, as libuv does; then reads the pipe to its end
 * and reaps the child.
 */
const spawnWith = (ffi: Ffi, f: ReturnType<Ffi['dlopen']>['functions'], path: string, argv: string[], env: string[], fd3?: number): Spawned => {
  const pipe = Buffer.alloc(8)
  if (f.pipe2(pipe, O_CLOEXEC) !== 0) return { errno: ffi.getInt32(f.__errno_location()), status: null, signal: null, output: '' }
  const [readEnd, writeEnd] = [pipe.readInt32LE(0), pipe.readInt32LE(4)]
  const actions = Buffer.alloc(OPAQUE)
  const attr = Buffer.alloc(OPAQUE)
  const none = Buffer.alloc(SIGSET_BYTES)
  const all = Buffer.alloc(SIGSET_BYTES, 0xff)
  const args = cStrings(ffi, argv)
  const envp = cStrings(ffi, env)
  const pid = Buffer.alloc(4)
  f.posix_spawn_file_actions_init(actions)
  f.posix_spawnattr_init(attr)
  let started: number
  try {
    f.posix_spawn_file_actions_addopen(actions, 0, '/dev/null', 0, 0)
    f.posix_spawn_file_actions_adddup2(actions, writeEnd, 1)
    f.posix_spawn_file_actions_adddup2(actions, writeEnd, 2)
    if (fd3 !== undefined) f.posix_spawn_file_actions_adddup2(actions, fd3, 3)
    f.posix_spawnattr_setsigmask(attr, none)
    f.posix_spawnattr_setsigdefault(attr, all)
    f.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK)
    started = f.posix_spawn(pid, path, actions, attr, args.array, envp.array)
  } finally {
    f.posix_spawn_file_actions_destroy(actions)
    f.posix_spawnattr_destroy(attr)
    closeSync(writeEnd)
  }
  const chunks: Buffer[] = []
  try {
    if (started !== 0) return { errno: started, status: null, signal: null, output: '' }
    const chunk = Buffer.alloc(4096)
    for (let n; (n = readSync(readEnd, chunk)) > 0; ) chunks.push(Buffer.from(chunk.subarray(0, n)))
  } finally {
    closeSync(readEnd)
  }
  const status = Buffer.alloc(4)
  while (f.waitpid(pid.readInt32LE(0), status, 0) < 0) {
    const e = ffi.getInt32(f.__errno_location())
    if (e !== EINTR) return { errno: e, status: null, signal: null, output: Buffer.concat(chunks).toString() }
  }
  const st = status.readInt32LE(0)
  const output = Buffer.concat(chunks).toString()
  if ((st & 0x7f) === 0) return { errno: 0, status: (st >> 8) & 0xff, signal: null, output }
  return { errno: 0, status: null, signal: signalName(st & 0x7f), output }
}

/** SIGKILL for 9, as Node names a child's ending signal. */
const signalName = (signal: number) => {
  const { signals } = (require('node:os') as typeof import('node:os')).constants
  return Object.keys(signals).find(k => signals[k as keyof typeof signals] === signal) ?? `signal ${signal}`
}

/** EIO for 5: the name Node gives a system error's `code`. */
export const errnoName = (errno: number): string => {
  const { errno: names } = (require('node:os') as typeof import('node:os')).constants
  return Object.keys(names).find(k => names[k as keyof typeof names] === errno) ?? `errno ${errno}`
}
/* c8 ignore stop */
