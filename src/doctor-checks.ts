import { spawnSync } from 'node:child_process'
import { accessSync, constants, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { parse } from 'yaml'
import { version } from '../package.json'
import { describeChanges, parseSpec, type ListChange } from './cdi-spec'
import { errorCode, errorText, HookError } from './errors'
import { parseHooksFile } from './hooks-d'
import { BINARY_CANDIDATES, DEFAULT_SPEC_DIRS, HOOKS_D_DIRS, MANIFEST, REFRESH_UNIT, WATCH_UNIT } from './host-layout'
import { readMountinfo } from './mountinfo'
import { readFileBounded } from './read-bounded'
import { DEFAULT_BINARY, isDisableDeviceNodeModification, isOurHook, NAME } from './registration'

export type Status = 'ok' | 'info' | 'warn' | 'fail'

/** One line of the verdict; `fix` is a command an operator can paste. */
export interface Finding {
  check: string
  status: Status
  summary: string
  fix?: string
}

/** The host as seen under `root` (`/`, or where a test or a pod mounted it). */
export interface Host {
  root: string
}

/** Our path for a path on the host. */
const at = (host: Host, path: string) => join(host.root, path)




const BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']

/** What the hook runs (src/mount.ts): usrmerged hosts have them in /usr/bin, older ones in /bin. */
const UTIL_LINUX = ['mount', 'umount', 'nsenter', 'flock']

/** runsc release dates (nvidia.md): from this one CDI createContainer hooks run in the gofer. */
export const RUNS_HOOKS_FROM = 20260520
/** From this one runsc skips NVIDIA's hook when its path ends in /nvidia-cdi-hook. */
export const SKIPS_CDI_HOOK_FROM = 20260601

export const VERSION_TIMEOUT_MS = 3000

const isExecutableFile = (path: string) => {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/** The first of `dirs` (host paths) holding an executable `name`; its host path. */
const which = (host: Host, name: string, dirs = BIN_DIRS) =>
  dirs.map(d => `${d}/${name}`).find(p => isExecutableFile(at(host, p)))

/**
 * `FILE --version`'s first line, run with a fixed environment and a short
 * timeout: a wedged runtime must not wedge the doctor.
 */
export const versionOf = (file: string): { line: string } | { why: string } => {
  const res = spawnSync(file, ['--version'], {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
    timeout: VERSION_TIMEOUT_MS,
    killSignal: 'SIGKILL',
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  if (res.error) {
    return { why: errorCode(res.error) === 'ETIMEDOUT' ? `no answer within ${VERSION_TIMEOUT_MS / 1000} s` : errorText(res.error) }
  }
  const line = res.stdout.split('\n').find(l => l.trim() !== '')?.trim()
  if (res.status !== 0 || line === undefined) {
    return { why: `exit ${res.status ?? res.signal}${res.stderr.trim() ? `: ${res.stderr.trim().split('\n').pop()}` : ''}` }
  }
  return { line }
}

const readText = (host: Host, path: string, what: string): { text: string } | { why: string } => {
  try {
    return { text: readFileBounded(at(host, path), what) }
  } catch (er) {
    // readFileBounded's errors are HookErrors naming the file: say it as the host knows it.
    return { why: (er as HookError).message.replace(at(host, path), path) }
  }
}

export const driverCheck = (host: Host): Finding => {
  const dir = '/proc/driver/nvidia'
  if (statSync(at(host, dir), { throwIfNoEntry: false }) === undefined) {
    return {
      check: 'driver',
      status: 'fail',
      summary: `no NVIDIA driver loaded (${dir} does not exist); GPU containers cannot start and this hook has nothing to do`,
      fix: 'modprobe nvidia   # or install the NVIDIA driver',
    }
  }
  const ver = readText(host, `${dir}/version`, 'driver version')
  const params = readText(host, `${dir}/params`, 'driver params')
  const modify = 'text' in params ? /^ModifyDeviceFiles: *(\S+)/m.exec(params.text)?.[1] : undefined
  const what =
    modify === '1'
      ? " (NVIDIA's disable-device-node-modification hook acts, so it needs /proc/driver/nvidia in the rootfs)"
      : modify === undefined
        ? ''
        : " (NVIDIA's disable-device-node-modification hook does nothing)"
  return {
    check: 'driver',
    status: 'ok',
    summary: `${'text' in ver ? ver.text.split('\n')[0]?.replace(/^NVRM version: */, '').replace(/\s+/g, ' ').trim() : ver.why}; ModifyDeviceFiles: ${
      modify ?? ('text' in params ? 'not set' : params.why)
    }${what}`,
  }
}

/** CAP_SYS_ADMIN is bit 21 of CapEff in /proc/self/status. */
export const capabilityCheck = (host: Host): Finding => {
  const status = readText(host, '/proc/self/status', 'process status')
  const capEff = 'text' in status ? /^CapEff:\s*([0-9a-f]+)$/m.exec(status.text)?.[1] : undefined
  if (capEff !== undefined && (BigInt(`0x${capEff}`) >> 21n) & 1n) {
    return { check: 'privilege', status: 'ok', summary: 'CAP_SYS_ADMIN: yes (the hook mounts, as runtimes run it)' }
  }
  return {
    check: 'privilege',
    status: 'fail',
    summary: `CAP_SYS_ADMIN: ${capEff === undefined ? `unknown (${'why' in status ? status.why : 'no CapEff line'})` : 'no'}; the hook mounts and runs as root under the runtime, and so must doctor to see what it sees`,
    fix: `sudo ${NAME} doctor`,
  }
}

export const utilLinuxCheck = (host: Host): Finding => {
  const found = UTIL_LINUX.map(tool => [tool, which(host, tool, ['/usr/bin', '/bin'])] as const)
  const missing = found.filter(([, p]) => p === undefined).map(([tool]) => tool)
  if (missing.length) {
    return {
      check: 'util-linux',
      status: 'fail',
      summary: `missing from /usr/bin and /bin: ${missing.join(', ')}; the hook runs them to mount`,
      fix: 'apt-get install mount util-linux   # dnf install util-linux',
    }
  }
  const mount = found[0]?.[1] as string
  const v = versionOf(at(host, mount))
  const where = found.map(([, p]) => p).join(', ')
  if ('why' in v) return { check: 'util-linux', status: 'warn', summary: `${mount} --version failed: ${v.why}; cannot tell which mount API it uses (${where})` }
  const release = /util-linux (\S+)/.exec(v.line)?.[1] ?? 'of unknown version'
  const api = /\bfd-based-mount\b/.test(v.line)
    ? 'fd-based mount API: the bind is attached read-only, no remount'
    : 'classic mount(2): bind, then remount read-only through a fresh fd'
  return { check: 'util-linux', status: 'ok', summary: `util-linux ${release}, ${api} (${where})` }
}

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

/** What a runsc build does with CDI createContainer hooks, from the date in its version. */
export type RunscHooks = 'skips' | 'runs' | 'runs-but-nvidia-cdi-hook' | 'unknown'

export const runscHooks = (versionLine: string): RunscHooks => {
  const date = /(?:^|\D)(20\d{6})(?!\d)/.exec(versionLine)?.[1]
  if (date === undefined) return 'unknown'
  const n = Number(date)
  return n < RUNS_HOOKS_FROM ? 'skips' : n < SKIPS_CDI_HOOK_FROM ? 'runs' : 'runs-but-nvidia-cdi-hook'
}

const RUNSC_SAYS: Record<RunscHooks, string> = {
  skips: `skips CDI createContainer hooks (builds before ${RUNS_HOOKS_FROM}): NVIDIA's hooks do not run under it, so neither does this one`,
  runs: "runs CDI createContainer hooks in the gofer: NVIDIA's disable-device-node-modification fails there unless this hook runs first",
  'runs-but-nvidia-cdi-hook':
    "runs CDI createContainer hooks in the gofer and skips NVIDIA's when its path ends in /nvidia-cdi-hook; the nvidia-ctk form still needs this hook first",
  unknown: `version has no release date: cannot tell whether it runs CDI createContainer hooks in the gofer (releases from ${RUNS_HOOKS_FROM} do); assuming it does`,
}

export interface RuntimeReport {
  findings: Finding[]
  /** What the runsc here does with CDI hooks ('unknown' when it cannot tell); undefined: no runsc. */
  runsc?: RunscHooks
}

export const runtimesCheck = (host: Host): RuntimeReport => {
  const report: RuntimeReport = { findings: [] }
  for (const name of ['runsc', 'runc', 'crun']) {
    const path = which(host, name)
    if (path === undefined) {
      report.findings.push({ check: name, status: 'info', summary: 'not found' })
      continue
    }
    const v = versionOf(at(host, path))
    if ('why' in v) {
      report.findings.push({ check: name, status: 'warn', summary: `${path} --version failed: ${v.why}` })
      if (name === 'runsc') report.runsc = 'unknown'
      continue
    }
    if (name !== 'runsc') {
      report.findings.push({ check: name, status: 'ok', summary: `${path}: ${v.line}; mounts /proc before createContainer hooks run: nothing for this hook to do` })
      continue
    }
    const hooks = runscHooks(v.line)
    report.runsc = hooks
    report.findings.push({ check: name, status: hooks === 'unknown' ? 'warn' : 'ok', summary: `${path}: ${v.line}; ${RUNSC_SAYS[hooks]}` })
  }
  return report
}

/** Spec or hooks.d files in `dir` (a host path), sorted; none when it does not exist. */
const filesIn = (host: Host, dir: string, pattern: RegExp): string[] => {
  try {
    return readdirSync(at(host, dir))
      .filter(n => pattern.test(n))
      .sort()
      .map(n => `${dir}/${n}`)
  } catch (er) {
    // Absent, or not a directory: CDI and podman skip it too.
    if (errorCode(er) === 'ENOENT' || errorCode(er) === 'ENOTDIR') return []
    throw er
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The CDI specs in /etc/cdi and /var/run/cdi (host paths), as CDI loads them. */
export const specFiles = (host: Host): string[] => DEFAULT_SPEC_DIRS.flatMap(d => filesIn(host, d, /\.(json|yaml)$/))

/** The paths our entries in a spec run (parseSpec has checked its shape). */
const ourPaths = (text: string): string[] => {
  const spec = parse(text) as { containerEdits?: unknown; devices?: { containerEdits?: unknown }[] | null }
  const edits = [spec.containerEdits, ...(spec.devices ?? []).map(d => d.containerEdits)]
  return edits.flatMap(e => (isObject(e) && Array.isArray(e.hooks) ? e.hooks.filter(isOurHook).map(h => String((h as { path: unknown }).path)) : []))
}

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`

const patchFix = (binary: string, file: string) => `${NAME} cdi patch${binary === DEFAULT_BINARY ? '' : ` --binary ${binary}`} ${file}`

/**
 * Each CDI spec as `cdi check` sees it (registration.ts planHooksList),
 * weighed against the runsc found: an entry of ours with a missing or
 * unsafe env always FAILs (it lets the image's code run in the hook); a
 * missing entry FAILs where runsc runs NVIDIA's hook in the gofer, but only
 * notes it where every disable-device-node-modification in the spec is
 * the `nvidia-cdi-hook` form and runsc skips that form (release-20260601.0+,
 * runtimes.md); elsewhere it warns. Then: does our entry run a binary that
 * exists?
 */
export const cdiCheck = (host: Host, binary: string, runsc: RunscHooks | undefined): Finding[] => {
  const files = specFiles(host)
  if (!files.length) {
    return [
      {
        check: 'cdi',
        status: 'warn',
        summary: `no CDI specs in ${DEFAULT_SPEC_DIRS.join(' or ')}: no GPU can be requested by CDI name`,
        fix: `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml && ${patchFix(binary, '/etc/cdi/nvidia.yaml')}`,
      },
    ]
  }
  return files.map((file): Finding => {
    const text = readText(host, file, 'CDI spec')
    let changes: ListChange[]
    try {
      if ('why' in text) throw new HookError(text.why)
      changes = parseSpec(text.text, file).patch({})
    } catch (er) {
      if (!(er instanceof HookError)) throw er
      return { check: 'cdi', status: 'fail', summary: er.message, fix: `fix or remove ${file}` }
    }
    const ops = changes.flatMap(c => c.ops)
    if (ops.some(o => o.op === 'replace')) {
      return { check: 'cdi', status: 'fail', summary: `${file}: ${describeChanges(changes)}: the image's environment could run code in the hook`, fix: patchFix(binary, file) }
    }
    if (ops.some(o => o.op === 'insert')) {
      const ddnm = changes.flatMap(c => c.hooks.filter(isDisableDeviceNodeModification))
      const skipped = runsc === 'runs-but-nvidia-cdi-hook' && ddnm.every(h => basename(String((h as { path: unknown }).path)) === 'nvidia-cdi-hook')
      const needed = runsc !== undefined && runsc !== 'skips' && !skipped
      return {
        check: 'cdi',
        status: skipped ? 'info' : needed ? 'fail' : 'warn',
        summary: `${file}: NVIDIA hooks run without ${NAME} in front (${count(changes.length, 'hooks list')})${
          skipped ? "; not needed with this runsc, which skips NVIDIA's nvidia-cdi-hook form, the only one here (patching does no harm)"
          : needed ? ''
          : '; harmless until runsc runs CDI createContainer hooks'
        }`,
        fix: patchFix(binary, file),
      }
    }
    if (ops.length) {
      return { check: 'cdi', status: 'warn', summary: `${file}: ${describeChanges(changes)} (the hook starts for nothing)`, fix: patchFix(binary, file) }
    }
    const paths = ourPaths(text.text)
    if (!paths.length) return { check: 'cdi', status: 'info', summary: `${file}: no NVIDIA hooks` }
    const missing = paths.find(p => !isExecutableFile(at(host, p)))
    if (missing !== undefined) {
      return {
        check: 'cdi',
        status: 'fail',
        summary: `${file}: patched, but its entry runs ${missing}, which is not an executable file: every container given this device fails`,
        fix: `${NAME} cdi revert ${file} && ${patchFix(binary, file)}`,
      }
    }
    return { check: 'cdi', status: 'ok', summary: `${file}: patched (${paths[0]})` }
  })
}

/**
 * Every hooks.d file, since a broken one can fail every container; ours
 * must also run a binary that exists (podman skips a missing one silently).
 */
export const hooksDCheck = (host: Host, binary: string): Finding[] => {
  const findings: Finding[] = []
  let ours = false
  for (const file of HOOKS_D_DIRS.flatMap(d => filesIn(host, d, /\.json$/))) {
    const text = readText(host, file, 'hooks.d file')
    try {
      if ('why' in text) throw new HookError(text.why)
      // parseHooksFile throws only HookErrors.
      const parsed = parseHooksFile(text.text, file)
      if (!isOurHook(parsed.hook)) continue
      ours = true
      const ok = isExecutableFile(at(host, parsed.hook.path))
      findings.push({
        check: 'hooks.d',
        status: ok ? 'ok' : 'fail',
        summary: `${file}: ${parsed.stages.join(', ')} -> ${parsed.hook.path}${ok ? '' : ', which is not an executable file: podman skips the hook silently'}`,
        ...(ok ? {} : { fix: `${NAME} install --hooks-d   # or remove ${file}` }),
      })
    } catch (er) {
      // parseHooksFile names the defects that make podman refuse every container.
      const { message } = er as HookError
      findings.push({ check: 'hooks.d', status: /fails every container/.test(message) ? 'fail' : 'warn', summary: message, fix: `fix or remove ${file}` })
    }
  }
  if (!ours) {
    findings.push({
      check: 'hooks.d',
      status: 'info',
      summary: `no hooks.d file for ${NAME} in ${HOOKS_D_DIRS.join(' or ')}: podman relies on patched CDI specs alone`,
      fix: `${NAME} install --hooks-d`,
    })
  }
  return findings
}

/** Binaries of ours that registrations or `install` point at, in the order to prefer. */
export const binaryCandidates = (host: Host): string[] => {
  const manifest = readText(host, MANIFEST, 'install manifest')
  let recorded: string[] = []
  if ('text' in manifest) {
    try {
      const files: unknown = (JSON.parse(manifest.text) as { files?: unknown }).files
      recorded = Array.isArray(files) ? files.filter((f): f is string => typeof f === 'string' && f.endsWith(`/bin/${NAME}`)) : []
    } catch {
      // A manifest we cannot read names nothing; uninstall reports it.
    }
  }
  return [...new Set([...recorded, ...BINARY_CANDIDATES])]
}

export interface BinaryReport {
  finding: Finding
  /** The installed binary's host path; the default when none is installed. */
  binary: string
}

export const binaryCheck = (host: Host): BinaryReport => {
  const binary = binaryCandidates(host).find(p => isExecutableFile(at(host, p)))
  if (binary === undefined) {
    return {
      binary: DEFAULT_BINARY,
      finding: {
        check: 'binary',
        status: 'fail',
        summary: `${NAME} is not installed (looked for ${BINARY_CANDIDATES.join(', ')})`,
        fix: `apt-get install ./${NAME}_${version}_amd64.deb   # or: ${NAME} install`,
      },
    }
  }
  const v = versionOf(at(host, binary))
  if ('why' in v) {
    return { binary, finding: { check: 'binary', status: 'fail', summary: `${binary} --version failed: ${v.why}`, fix: `${NAME} install` } }
  }
  const same = v.line.startsWith(`${NAME} ${version} `)
  return {
    binary,
    finding: {
      check: 'binary',
      status: same ? 'ok' : 'warn',
      summary: `${binary}: ${v.line}${same ? '' : `; this doctor is ${version}`}`,
      ...(same ? {} : { fix: `${NAME} install   # or install the ${version} package` }),
    },
  }
}

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
  if (!statSync(at(host, '/run/systemd/system'), { throwIfNoEntry: false })?.isDirectory()) {
    return { check, status: 'info', summary: `systemd does not run this host: cannot tell whether specs are kept patched (${NAME} cdi patch --watch under its supervisor, or the DaemonSet)` }
  }
  const installed = (unit: string) => UNIT_DIRS.some(d => statSync(at(host, `${d}/${unit}`), { throwIfNoEntry: false }) !== undefined)
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
