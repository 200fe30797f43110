import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Finding, Host } from './doctor-finding'
import { errorText } from './errors'
import { readMountinfo } from './mountinfo'
import { NAME } from './registration'

/** Seconds the self-test may take; it mounts once and exits. */
export const SELF_TEST_TIMEOUT_MS = 15_000

/** A fix for what a failed self-test said, by its text. */
const selfTestFix = (said: string) =>
  /\(util-linux\)$|cannot run \/\S+\/(mount|umount|nsenter|flock):/.test(said) ? 'apt-get install --reinstall mount util-linux   # dnf reinstall util-linux'
  : /permission denied|not permitted|EPERM|EACCES/i.test(said) ? `sudo ${NAME} doctor   # as root with CAP_SYS_ADMIN, as runtimes run the hook`
  : `${NAME} hook --rootfs DIR --debug   # on an empty scratch DIR: shows each step; report the output with doctor --json`

/**
 * Runs the real mount path once (this program, as `hook --rootfs`) on a
 * scratch rootfs, inside a private mount namespace (`unshare -m
 * --propagation private`) that dies with it: ok, or FAIL with the hook's own
 * error line and a fix. The source is the host's /proc/driver/nvidia when a
 * driver is loaded, else a scratch directory. The scratch tree is removed
 * only when nothing is mounted under it here. Only on this host itself:
 * under --host-root it is not run.
 */
export const selfTestCheck = (host: Host, self: string[] | undefined): Finding => {
  if (host.root !== '/' || self === undefined) {
    return { check: 'self-test', status: 'info', summary: 'not run: it mounts on this machine, and --host-root examines another' }
  }
  const scratch = mkdtempSync('/tmp/nvidia-procfs-hook-doctor-')
  try {
    const rootfs = join(scratch, 'rootfs')
    mkdirSync(rootfs)
    let source = '/proc/driver/nvidia'
    if (statSync(source, { throwIfNoEntry: false }) === undefined) {
      source = join(scratch, 'source')
      mkdirSync(source)
      writeFileSync(join(source, 'params'), 'ModifyDeviceFiles: 1\n')
    }
    const res = spawnSync('/usr/bin/unshare', ['-m', '--propagation', 'private', '--', ...self, 'hook', '--rootfs', rootfs, '--source', source], {
      env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
      timeout: SELF_TEST_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const said = res.error ? `cannot run /usr/bin/unshare: ${errorText(res.error)}` : res.stderr.trim().split('\n').pop() || `exit ${res.status ?? res.signal}`
    const what = `${source === '/proc/driver/nvidia' ? source : 'a scratch source (no driver loaded)'} on a scratch rootfs`
    if (res.status === 0 && said.startsWith(`${NAME}: mounted: `)) {
      const api = /\((\S+) mount API\)$/.exec(said)?.[1]
      return { check: 'self-test', status: 'ok', summary: `the real mount path works: ${what} bound read-only in a private mount namespace (${api} mount API)` }
    }
    return { check: 'self-test', status: 'fail', summary: `the real mount path fails (${what}): ${said.replace(`${NAME}: error: `, '')}`, fix: selfTestFix(said) }
  } finally {
    // The namespace and its mounts died with the child; never recurse into a mount left here.
    if (!readMountinfo().some(m => m.mountPoint.startsWith(`${scratch}/`))) rmSync(scratch, { recursive: true, force: true })
  }
}
