import { spawnSync } from 'node:child_process'
import { errorCode, HookError } from './errors'
import { debugFor } from './log'

const debug = debugFor('mount')

/** util-linux gets a fixed environment: nothing from ours (locale, PATH, LIBMOUNT_*) reaches it. */
const UTIL_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }

/** The fd the child sees as its fd 3, so `/proc/self/fd/3` names exactly the directory we checked. */
export const CHILD_FD = '/proc/self/fd/3'

export type UtilRunner = (tool: 'mount' | 'umount', args: string[], fd: number) => void

/** Runs util-linux `mount`/`umount` by absolute path with `fd` as its fd 3. */
export const runUtil: UtilRunner = (tool, args, fd) => {
  debug('%s %s (fd 3 = our fd %d)', tool, args.join(' '), fd)
  let res = spawnSync(`/usr/bin/${tool}`, args, { stdio: ['ignore', 'pipe', 'pipe', fd], env: UTIL_ENV })
  // Pre-usrmerge hosts keep util-linux in /bin only.
  if (errorCode(res.error) === 'ENOENT') {
    res = spawnSync(`/bin/${tool}`, args, { stdio: ['ignore', 'pipe', 'pipe', fd], env: UTIL_ENV })
  }
  if (res.error) throw new HookError(`cannot run ${tool}: ${errorCode(res.error) ?? res.error.message}`)
  if (res.status !== 0) {
    const why = `${res.stderr}`.trim().split('\n').pop() || `exit ${res.status ?? res.signal}`
    throw new HookError(`${tool} ${args.join(' ')} failed: ${why}`)
  }
}

export const bind = (run: UtilRunner, source: string, targetFd: number) =>
  run('mount', ['--no-canonicalize', '--bind', source, CHILD_FD], targetFd)

/** A bind ignores flags on creation (runtimes.md); read-only needs this second call on a fresh fd. */
export const remountReadOnly = (run: UtilRunner, mountFd: number) =>
  run('mount', ['--no-canonicalize', '-o', 'remount,bind,ro,nosuid,nodev,noexec', CHILD_FD], mountFd)

/** Lazy, so an fd still open on the mount (ours, or a racing process's) cannot keep it attached. */
export const detach = (run: UtilRunner, mountFd: number) =>
  run('umount', ['--no-canonicalize', '--lazy', CHILD_FD], mountFd)
