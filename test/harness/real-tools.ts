import { execFileSync } from 'node:child_process'
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, delimiter, dirname, join, resolve } from 'node:path'
import type { Test } from 'tap'
import { versionOf } from '../../src/doctor-finding'
import { parseMountinfo } from '../../src/mountinfo'
import { ourCdiHook } from '../../src/registration'
import { hooksFromBinary, type RunscHooks } from '../../src/runsc-release'

/**
 * The real runsc (gVisor, with its containerd shim) and NVIDIA's real CDI
 * hooks, for the suites that run them (test/e2e/runsc-*.ts). Each is found,
 * in this order:
 *   1. an environment variable: NPH_RUNSC_20260520 and NPH_RUNSC_20260822
 *      name a runsc binary (gVisor's `containerd-shim-runsc-v1` beside it);
 *      NPH_NVIDIA_TOOLKIT_DIR a directory holding `nvidia-ctk` and
 *      `nvidia-cdi-hook` (NVIDIA Container Toolkit >= 1.17);
 *   2. PATH: a runsc whose own code runs CDI createContainer hooks in the
 *      gofer (doctor's rule, src/runsc-release.ts: the gofer's error text in
 *      the binary, its version line as a fallback), as 20260520 when it runs
 *      every such hook, as 20260822 when it skips
 *      NVIDIA's `nvidia-cdi-hook` form (release-20260601.0+); `nvidia-ctk` and
 *      `nvidia-cdi-hook` on PATH;
 *   3. `../shared/tools/` beside the repository (shared/tools/README.md).
 */
export const TOOLS_DIR = resolve(__dirname, '../../../shared/tools')

/** The two runsc behaviours the suites hold us to, by the release that first had each. */
export const RELEASES = ['20260520', '20260822'] as const
export type Release = (typeof RELEASES)[number]

/** What each release does with CDI createContainer hooks (doctor's words, src/doctor-checks.ts). */
const BEHAVIOUR: Record<Release, RunscHooks> = { '20260520': 'runs', '20260822': 'runs-but-nvidia-cdi-hook' }

export const runscVar = (release: Release) => `NPH_RUNSC_${release}`
export const TOOLKIT_VAR = 'NPH_NVIDIA_TOOLKIT_DIR'

export interface Runsc {
  release: Release
  /** The runsc binary. */
  runsc: string
  /** gVisor's containerd shim (`io.containerd.runsc.v1`) beside it. */
  shim: string
  /** Where it was found: the variable, PATH or the shared tools. */
  from: string
  /** Whether it skips `…/nvidia-cdi-hook disable-device-node-modification` itself (release-20260601.0+). */
  skipsCdiHookForm: boolean
}

export interface Toolkit {
  nvidiaCtk: string
  nvidiaCdiHook: string
  from: string
}

const isExecutable = (path: string) => {
  try {
    accessSync(path, constants.X_OK)
    return statSync(path).isFile()
  } catch (er) {
    if ((er as NodeJS.ErrnoException).code === 'ENOENT' || (er as NodeJS.ErrnoException).code === 'EACCES' || (er as NodeJS.ErrnoException).code === 'ENOTDIR') return false
    throw er
  }
}

const onPath = (name: string): string[] =>
  (process.env.PATH ?? '')
    .split(delimiter)
    .filter(d => d !== '')
    .map(d => join(d, name))
    .filter(isExecutable)

const runscAt = (release: Release, runsc: string, from: string): Runsc | undefined => {
  const shim = join(dirname(runsc), 'containerd-shim-runsc-v1')
  return isExecutable(runsc) && isExecutable(shim) ? { release, runsc, shim, from, skipsCdiHookForm: release === '20260822' } : undefined
}

/**
 * The runsc that behaves as `release` does, or one line saying what to
 * install. Reads a PATH candidate and asks its version; nothing else runs.
 */
export const findRunsc = (release: Release): Runsc | string => {
  const named = process.env[runscVar(release)]
  if (named) return runscAt(release, resolve(named), runscVar(release)) ?? `${runscVar(release)}=${named}: not an executable runsc with an executable containerd-shim-runsc-v1 beside it`
  for (const candidate of onPath('runsc')) {
    const v = versionOf(candidate)
    if (hooksFromBinary(readFileSync(candidate), 'line' in v ? v.line : undefined) === BEHAVIOUR[release]) {
      const found = runscAt(release, candidate, 'PATH')
      if (found) return found
    }
  }
  return (
    runscAt(release, join(TOOLS_DIR, `runsc-${release}`, 'runsc'), TOOLS_DIR) ??
    `no real runsc ${release}: install gVisor's runsc and containerd-shim-runsc-v1 of release ${release === '20260520' ? '20260520.0' : '20260601.0 or later'} and set ${runscVar(release)} to the runsc (or put it on PATH, or in ${TOOLS_DIR}/runsc-${release}/)`
  )
}

/** NVIDIA's `nvidia-ctk` and `nvidia-cdi-hook`, or one line saying what to install. */
export const findToolkit = (): Toolkit | string => {
  const at = (dir: string, from: string): Toolkit | undefined => {
    const nvidiaCtk = join(dir, 'nvidia-ctk')
    const nvidiaCdiHook = join(dir, 'nvidia-cdi-hook')
    return isExecutable(nvidiaCtk) && isExecutable(nvidiaCdiHook) ? { nvidiaCtk, nvidiaCdiHook, from } : undefined
  }
  const named = process.env[TOOLKIT_VAR]
  if (named) return at(resolve(named), TOOLKIT_VAR) ?? `${TOOLKIT_VAR}=${named}: holds no executable nvidia-ctk and nvidia-cdi-hook`
  const [nvidiaCtk] = onPath('nvidia-ctk')
  const [nvidiaCdiHook] = onPath('nvidia-cdi-hook')
  if (nvidiaCtk && nvidiaCdiHook) return { nvidiaCtk, nvidiaCdiHook, from: 'PATH' }
  return (
    at(join(TOOLS_DIR, 'nvidia-container-toolkit-1.20.0'), TOOLS_DIR) ??
    `no NVIDIA Container Toolkit: install nvidia-container-toolkit-base (>= 1.17: nvidia-ctk and nvidia-cdi-hook) or set ${TOOLKIT_VAR} to a directory holding both`
  )
}

export interface RealTools {
  runsc: Runsc[]
  toolkit: Toolkit
}

/** Both runsc releases and NVIDIA's hooks, or the lines saying what is missing (joined by '; '). */
export const findRealTools = (): RealTools | string => {
  const found = [...RELEASES.map(findRunsc), findToolkit()]
  const missing = found.filter((f): f is string => typeof f === 'string')
  if (missing.length > 0) return missing.join('; ')
  return { runsc: found.slice(0, RELEASES.length) as Runsc[], toolkit: found[RELEASES.length] as Toolkit }
}

/** The directories a Debian root needs bound in to run these tools (test/harness/enter-root.sh's NPH_ROOT_BINDS). */
export const toolDirs = (tools: RealTools): string[] => [
  ...new Set([...tools.runsc.map(r => dirname(r.runsc)), dirname(tools.toolkit.nvidiaCtk), dirname(tools.toolkit.nvidiaCdiHook)]),
]

/**
 * Makes each `files[path] = source` appear at `path` (all in one directory,
 * e.g. /usr/bin, where NVIDIA's spec names its hooks) without touching the
 * host's files: an overlay on that directory whose upper layer, on a tmpfs,
 * holds an empty file for each, with the source bound onto it. Files bound
 * in that directory before (a Debian root's /usr/bin/node, enter-root.sh)
 * are bound again on top, since the overlay reads only the directory's own
 * filesystem. Only inside a private mount namespace; undone at teardown.
 */
export const placeFiles = (t: Test, files: Record<string, string>) => {
  const dirs = [...new Set(Object.keys(files).map(dirname))]
  if (dirs.length !== 1) throw new Error(`placeFiles: one directory at a time, not ${dirs.join(', ')}`)
  const dir = dirs[0] as string
  const mount = (...args: string[]) => execFileSync('/usr/bin/mount', args)
  const layer = mkdtempSync(join(tmpdir(), 'nph-place-'))
  mount('-t', 'tmpfs', '-o', 'mode=0755,size=1m', 'nph-test-place', layer)
  for (const d of ['upper', 'work', 'kept']) mkdirSync(join(layer, d))
  const kept = parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'))
    .map(m => m.mountPoint)
    .filter(p => dirname(p) === dir && !(p in files) && statSync(p).isFile())
  kept.forEach((p, i) => {
    writeFileSync(join(layer, 'kept', String(i)), '')
    mount('--bind', p, join(layer, 'kept', String(i)))
  })
  for (const path of Object.keys(files)) writeFileSync(join(layer, 'upper', basename(path)), '', { mode: 0o755 })
  mount('-t', 'overlay', '-o', `lowerdir=${dir},upperdir=${layer}/upper,workdir=${layer}/work`, 'nph-test-place', dir)
  kept.forEach((p, i) => mount('--bind', join(layer, 'kept', String(i)), p))
  for (const [path, source] of Object.entries(files)) mount('--bind', source, path)
  t.teardown(() => {
    for (const path of [...Object.keys(files), ...kept]) execFileSync('/usr/bin/umount', [path])
    // Lazily: umount itself runs from the overlay when `dir` is /usr/bin.
    execFileSync('/usr/bin/umount', ['--lazy', dir])
    kept.forEach((_, i) => execFileSync('/usr/bin/umount', [join(layer, 'kept', String(i))]))
    execFileSync('/usr/bin/umount', [layer])
    rmdirSync(layer)
  })
}

/** The text of the gofer's log in a `runsc --debug --debug-log=DIR/` directory ('' when there is none). */
export const goferLog = (dir: string): string =>
  (existsSync(dir) ? readdirSync(dir) : [])
    .filter(f => f.endsWith('.gofer.txt'))
    .map(f => readFileSync(join(dir, f), 'utf8'))
    .join('')

/** Processes (pid and command line) whose command line names `marker` (a private directory of the test's). */
export const processesNaming = (marker: string): string[] =>
  readdirSync('/proc')
    .filter(p => /^\d+$/.test(p) && Number(p) !== process.pid)
    .flatMap(p => {
      try {
        const cmdline = readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ').trim()
        return cmdline.includes(marker) ? [`${p} ${cmdline}`] : []
      } catch (er) {
        if ((er as NodeJS.ErrnoException).code === 'ENOENT' || (er as NodeJS.ErrnoException).code === 'ESRCH') return []
        throw er
      }
    })

/** NVIDIA's hook as its CDI specs name it: the `nvidia-ctk` form, which every runsc release runs. */
export const NVIDIA_CTK_HOOK = { hookName: 'createContainer', path: '/usr/bin/nvidia-ctk', args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] }

/**
 * What a user and an operator look at after an engine ran a GPU container
 * under the real runsc, for the suites in test/e2e/runsc-*.ts; everything
 * under `work`. `spec` writes a CDI spec of NVIDIA's shape (our entry, with
 * `ours`, then NVIDIA's hook, then a probe that copies the gofer's
 * mountinfo); runsc's debug logs go to `logs` (its `--debug-log=DIR/`),
 * our hook's to `log`; `reset` empties them before a run.
 */
export const runscChecks = (work: string, exe: string) => {
  const log = join(work, 'hook.log')
  const logs = join(work, 'runsc-logs')
  const seen = join(work, 'gofer-mountinfo')
  const NVIDIA = NVIDIA_CTK_HOOK
  // A probe after NVIDIA's hook: the gofer's mount table, as the gofer has it.
  const PROBE = { hookName: 'createContainer', path: '/bin/sh', args: ['sh', '-c', `cat /proc/self/mountinfo > ${seen}`], env: ['PATH=/usr/bin:/bin'] }
  const spec = (kind: string, device: string, env: string, ours: boolean) =>
    JSON.stringify({ cdiVersion: '0.5.0', kind, devices: [{ name: device, containerEdits: { env: [`GPU_UNDER_TEST=${env}`] } }], containerEdits: { hooks: [...(ours ? [ourCdiHook({ binary: exe, logFile: log })] : []), NVIDIA, PROBE] } })
  const reset = () => {
    rmSync(logs, { recursive: true, force: true })
    mkdirSync(logs)
    writeFileSync(log, '')
    rmSync(seen, { force: true })
  }
  const records = () => readFileSync(log, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l) as Record<string, unknown>)
  /** With our entry: both hooks succeeded in the gofer (its log), ours once, and the probe saw our bind read-only. */
  const succeeded = (t: Test, what: string) => {
    const gofer = goferLog(logs)
    t.match(gofer, `Execute hook "${exe}" success!`, `${what}: our hook succeeded in the gofer`)
    t.match(gofer, `Execute hook "${NVIDIA.path}" success!`, `${what}: NVIDIA's hook succeeded after it`)
    const ran = records().filter(r => r.stage === 'createContainer')
    t.equal(ran.length, 1, `${what}: our hook ran once`)
    t.match(ran[0], { action: 'mounted', exitCode: 0 }, `${what}: our log: mounted`)
    const table = parseMountinfo(readFileSync(seen, 'utf8'))
    const ours = table.find(m => m.mountPoint.endsWith('/rootfs/proc/driver/nvidia'))
    t.match(ours?.options.slice(0, 4), ['ro', 'nosuid', 'nodev', 'noexec'], `${what}: our bind is read-only in the gofer's mount namespace (${ours?.mountPoint})`)
    t.ok(table.some(m => m.mountPoint === `${ours?.mountPoint}/params`), `${what}: NVIDIA's modified params bound over it`)
  }
  /** Without it: the gofer's log names NVIDIA's hook and the missing params; no later hook ran. */
  const failed = (t: Test, what: string) => {
    const gofer = goferLog(logs)
    t.match(gofer, `FATAL ERROR: error executing CreateContainer hooks: failure executing hook "${NVIDIA.path}", err: exit status 1`, `${what}: the gofer's log names NVIDIA's hook`)
    t.match(gofer, /proc\/driver\/nvidia\/params: no such file or directory/, `${what}: … and the missing params`)
    t.notOk(existsSync(seen), `${what}: no hook after it ran`)
  }
  /**
   * No process naming `work` is left, but a containerd the test runs; podman's
   * conmon and cleanup outlive `podman run --rm` a little, so wait for them (up to 10 s).
   */
  const leftovers = async (t: Test, what: string) => {
    const left = () => processesNaming(work).filter(p => !p.includes('/usr/bin/containerd --config'))
    for (let i = 0; i < 200 && left().length > 0; i++) await new Promise(res => setTimeout(res, 50))
    t.same(left(), [], `${what}: no shim, runsc, gofer, sandbox or conmon process left`)
  }
  return { log, logs, NVIDIA, spec, reset, records, succeeded, failed, leftovers }
}
