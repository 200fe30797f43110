import { spawnSync } from 'node:child_process'
import { at, statHost, which, type Finding, type Host } from './doctor-finding'
import { errorCode, errorText } from './errors'
import { REFRESH_UNIT, WATCH_UNIT } from './host-layout'
import { NAME } from './registration'

/** The package's watcher unit, and NVIDIA's unit whose drop-in patches the spec it writes (systemd/). */
const UNIT_DIRS = ['/etc/systemd/system', '/usr/lib/systemd/system', '/lib/systemd/system']

export const SYSTEMCTL_TIMEOUT_MS = 3000

/** `systemctl is-active UNIT...`: one state per unit, or why there is none (it exits 3 for any inactive unit: not an error). */
const activeStates = (systemctl: string, units: string[]): { states: string[] } | { why: string } => {
  const res = spawnSync(systemctl, ['is-active', ...units], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
    timeout: SYSTEMCTL_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (res.error) return { why: errorCode(res.error) === 'ETIMEDOUT' ? `no answer within ${SYSTEMCTL_TIMEOUT_MS / 1000} s` : errorText(res.error) }
  const states = res.stdout.split('\n').filter(Boolean)
  if (states.length !== units.length) return { why: res.stderr.trim().split('\n').pop() || `exit ${res.status ?? res.signal}` }
  return { states }
}

/**
 * Whether rewritten specs get patched again on a systemd host: the watcher
 * unit active, and NVIDIA's refresh unit (whose drop-in patches what it
 * writes) not failed. Says it cannot tell where systemd does not run the
 * host (/run/systemd/system), where the watcher unit is not installed (the
 * DaemonSet, or another supervisor, may be doing it), or where systemctl
 * does not answer (under --host-root it asks this machine's systemd).
 */
export const systemdCheck = (host: Host): Finding => {
  const check = 'systemd'
  if (!statHost(host, '/run/systemd/system')?.isDirectory()) {
    return { check, status: 'info', summary: `systemd does not run this host: cannot tell whether specs are kept patched (${NAME} cdi patch --watch under its supervisor, or the DaemonSet)` }
  }
  const installed = (unit: string) => UNIT_DIRS.some(d => statHost(host, `${d}/${unit}`) !== undefined)
  if (!installed(WATCH_UNIT)) {
    return { check, status: 'info', summary: `${WATCH_UNIT} is not installed: rewritten specs are patched again only if something else runs ${NAME} cdi patch --watch (the DaemonSet)` }
  }
  const units = installed(REFRESH_UNIT) ? [WATCH_UNIT, REFRESH_UNIT] : [WATCH_UNIT]
  const systemctl = which(host, 'systemctl')
  const answer = systemctl === undefined ? { why: 'no systemctl' } : activeStates(at(host, systemctl), units)
  if ('why' in answer) return { check, status: 'info', summary: `cannot tell whether ${WATCH_UNIT} is active: ${answer.why}` }
  const [watch, refresh] = answer.states
  const failedRefresh = refresh === 'failed'
  const summary = `${WATCH_UNIT}: ${watch}${refresh === undefined ? '' : `; ${REFRESH_UNIT}: ${refresh}${failedRefresh ? ' (its ExecStartPost patches the spec it writes)' : ''}`}`
  if (watch !== 'active') {
    return { check, status: 'warn', summary: `${summary}; specs rewritten from now on lose the entry`, fix: `systemctl enable --now ${WATCH_UNIT}   # why it stopped: journalctl -u ${WATCH_UNIT}` }
  }
  if (failedRefresh) return { check, status: 'warn', summary, fix: `journalctl -u ${REFRESH_UNIT}; systemctl restart ${REFRESH_UNIT}` }
  return { check, status: 'ok', summary }
}
