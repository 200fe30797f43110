import { errorCode, errorText, HookError } from './errors'
import { debugFor } from './log'

const debug = debugFor('mount')

/** util-linux gets a fixed environment: nothing from ours (locale, PATH, LIBMOUNT_*) reaches it. */
const UTIL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }

/** The fd the child sees as its fd 3, so `/proc/self/fd/3` names exactly the directory we checked. */
export const CHILD_FD = '/proc/self/fd/3'

export type Tool = 'mount' | 'umount' | 'nsenter' | 'flock'

/** Runs a util-linux tool, optionally with `fd` as its fd 3; returns its stderr. */
export type UtilRunner = (tool: Tool, args: string[], fd?: number) => string

/**
 * A runner that looks for the tools in `dirs`, in order, by absolute path:
 * usrmerged hosts have them in /usr/bin, older ones keep mount in /bin.
 */
export const makeRunner =
  (dirs: string[]): UtilRunner =>
  (tool, args, fd) => {
    debug('%s %s%s', tool, args.join(' '), fd === undefined ? '' : ` (fd 3 = our fd ${fd})`)
    const stdio = fd === undefined ? (['ignore', 'pipe', 'pipe'] as const) : (['ignore', 'pipe', 'pipe', fd] as const)
    // Required here: child_process costs start-up that the skip path must not pay.
    const { spawnSync } = require('node:child_process') as typeof import('node:child_process')
    for (const dir of dirs) {
      const res = spawnSync(`${dir}/${tool}`, args, { stdio: [...stdio], env: UTIL_ENV, encoding: 'utf8' })
      if (errorCode(res.error) === 'ENOENT') continue
      if (res.error) throw new HookError(`cannot run ${dir}/${tool}: ${errorText(res.error)}`)
      if (res.status !== 0) {
        // A failed mount(8) ends with a pointer to dmesg; the reason is the line before it.
        const lines = res.stderr.split('\n').map(l => l.trim()).filter(l => l !== '' && !l.startsWith('dmesg(1) may have more'))
        const why = lines.pop() || `exit ${res.status ?? res.signal}`
        throw new HookError(`${tool} ${args.join(' ')} failed: ${why}`)
      }
      return res.stderr
    }
    throw new HookError(`${tool} not found in ${dirs.join(', ')} (util-linux)`)
  }

export const runUtil = makeRunner(['/usr/bin', '/bin'])

export const bind = (run: UtilRunner, source: string, targetFd: number) =>
  run('mount', ['--no-canonicalize', '--bind', source, CHILD_FD], targetFd)

/** A bind ignores flags on creation (runtimes.md); read-only needs this second call on a fresh fd. */
export const remountReadOnly = (run: UtilRunner, mountFd: number) =>
  run('mount', ['--no-canonicalize', '-o', 'remount,bind,ro,nosuid,nodev,noexec', CHILD_FD], mountFd)

/** Lazy, so an fd still open on the mount (ours, or a racing process's) cannot keep it attached. */
export const detach = (run: UtilRunner, mountFd: number) =>
  run('umount', ['--no-canonicalize', '--lazy', CHILD_FD], mountFd)

/** Seconds to wait for another run on the same rootfs; past that the run fails rather than hang a runtime. */
export const LOCK_TIMEOUT_S = 10

/**
 * flock(2) on our fd, taken by a child: the lock belongs to the open file
 * description the child inherited, so it stays ours after the child exits and
 * the kernel drops it when we close the fd or die (no stale lock after SIGKILL).
 */
export const lockExclusive = (run: UtilRunner, dirFd: number) =>
  run('flock', ['--exclusive', '--timeout', String(LOCK_TIMEOUT_S), '3'], dirFd)
