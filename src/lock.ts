import { errorCode, HookError } from './errors'
import { debugFor } from './log'
import type { UtilRunner } from './mount'

const debug = debugFor('lock')

/** Seconds to wait for another run on the same rootfs; past that the run fails rather than hang a runtime. */
export const LOCK_TIMEOUT_S = 10

// <sys/file.h>, and EWOULDBLOCK (= EAGAIN) from <asm-generic/errno-base.h>: x86_64's and arm64's.
const LOCK_EX = 2
const LOCK_NB = 4
const EWOULDBLOCK = 11

/** The part of node:ffi (Node >= 26.1, experimental) used here. */
interface Ffi {
  dlopen: (
    path: null,
    definitions: Record<string, { arguments: string[]; return: string }>,
  ) => { functions: { flock: (fd: number, op: number) => number; __errno_location: () => bigint } }
  getInt32: (pointer: bigint) => number
}

/**
 * flock(2) and errno from libc, through node:ffi: undefined where this Node
 * has no node:ffi (before 26.1, or run with --no-experimental-ffi). Its
 * ExperimentalWarning is kept off stderr, where the hook says one line at most.
 */
const loadFlock = () => {
  const emitWarning = process.emitWarning
  process.emitWarning = () => undefined
  let ffi: Ffi
  try {
    ffi = require('node:ffi') as Ffi
  } catch (er) {
    if (errorCode(er) === 'ERR_UNKNOWN_BUILTIN_MODULE') return undefined
    /* c8 ignore next 2 -- only a node:ffi that fails to load gets here */
    throw er
  } finally {
    process.emitWarning = emitWarning
  }
  /* c8 ignore start -- the tests' Node (20) has no node:ffi; the executable's (26) has: test/system/load.ts, faults.ts */
  const { functions } = ffi.dlopen(null, {
    flock: { arguments: ['int32', 'int32'], return: 'int32' },
    __errno_location: { arguments: [], return: 'pointer' },
  })
  return (fd: number, op: number): number => (functions.flock(fd, op) === 0 ? 0 : ffi.getInt32(functions.__errno_location()))
}
/* c8 ignore stop */

/* c8 ignore start -- node:ffi only: see loadFlock */
/** EACCES for 13: the name Node's own errors give a code. */
const errnoName = (errno: number) => {
  const { errno: names } = (require('node:os') as typeof import('node:os')).constants
  return Object.keys(names).find(k => names[k as keyof typeof names] === errno) ?? `errno ${errno}`
}

/** Blocks the thread for `ms` milliseconds (the hook is synchronous throughout). */
const sleep = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)
/* c8 ignore stop */

/**
 * An exclusive flock(2) on `dirFd` (opened O_CLOEXEC, so no child inherits
 * it unless given it): the lock belongs to that open file description,
 * so the kernel drops it when the fd is closed or this process dies (no
 * stale lock after SIGKILL, none held on by a hung child). Waits up to
 * LOCK_TIMEOUT_S. Taken in this process through node:ffi where this Node has
 * it; otherwise by util-linux flock(1) on the inherited fd, one child process
 * (the same description, so the lock stays ours after the child exits).
 * Throws HookError when it cannot be had.
 */
export const lockExclusive = (run: UtilRunner, dirFd: number): void => {
  const flock = loadFlock()
  if (!flock) {
    run('flock', ['--exclusive', '--timeout', String(LOCK_TIMEOUT_S), '3'], dirFd)
    return
  }
  /* c8 ignore start -- node:ffi: see loadFlock */
  const deadline = Date.now() + LOCK_TIMEOUT_S * 1000
  for (let wait = 1; ; wait = Math.min(wait * 2, 25)) {
    const errno = flock(dirFd, LOCK_EX | LOCK_NB)
    if (errno === 0) return
    if (errno !== EWOULDBLOCK) throw new HookError(`flock(2) failed: ${errnoName(errno)}`)
    if (Date.now() >= deadline) throw new HookError(`another run held the lock for ${LOCK_TIMEOUT_S} s`)
    debug('locked by another run; retrying in %d ms', wait)
    sleep(wait)
  }
  /* c8 ignore stop */
}
