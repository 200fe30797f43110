import { HookError } from './errors'
import { errnoName, libc } from './libc'
import { debugFor } from './log'
import type { UtilRunner } from './mount'

const debug = debugFor('lock')

/** Seconds to wait for another run on the same rootfs; past that the run fails rather than hang a runtime. */
export const LOCK_TIMEOUT_S = 10

// <sys/file.h>, and EWOULDBLOCK (= EAGAIN) from <asm-generic/errno-base.h>: x86_64's and arm64's.
const LOCK_EX = 2
const LOCK_NB = 4
const EWOULDBLOCK = 11

/* c8 ignore start -- node:ffi only: see libc */
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
  const c = libc()
  if (!c) {
    run('flock', ['--exclusive', '--timeout', String(LOCK_TIMEOUT_S), '3'], dirFd)
    return
  }
  /* c8 ignore start -- node:ffi: see libc */
  const deadline = Date.now() + LOCK_TIMEOUT_S * 1000
  for (let wait = 1; ; wait = Math.min(wait * 2, 25)) {
    const errno = c.flock(dirFd, LOCK_EX | LOCK_NB)
    if (errno === 0) return
    if (errno !== EWOULDBLOCK) throw new HookError(`flock(2) failed: ${errnoName(errno)}`)
    if (Date.now() >= deadline) throw new HookError(`another run held the lock for ${LOCK_TIMEOUT_S} s`)
    debug('locked by another run; retrying in %d ms', wait)
    sleep(wait)
  }
}
/* c8 ignore stop */
