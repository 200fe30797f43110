import { spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ProbeResult } from './doctor-runsc'
import { errorCode, errorText } from './errors'
import { readMountinfo } from './mountinfo'
import type { OciHook } from './registration'
import type { RunscHooks } from './runsc-release'

/** How long `runsc create` may take before it is killed (a sandbox boots in well under a second here). */
export const PROBE_TIMEOUT_MS = 30_000

/**
 * One script for both probes: `mark FILE` creates FILE (the hook ran);
 * `params PARAMS FILE` opens PARAMS, as NVIDIA's disable-device-node-modification
 * needs to (nvidia.md), and creates FILE when it could. Under the name
 * `nvidia-cdi-hook` it stands for NVIDIA's hook in the form that runsc
 * 20260601+ skips.
 */
const PROBE = `#!/bin/sh
case "$1" in
mark) : > "$2" ;;
params) exec 3< "$2" && : > "$3" ;;
disable-device-node-modification) : > "$2" ;;
*) exit 2 ;;
esac
`

/**
 * `--name=value` for each engine flag but nvproxy's (the probe sandbox has
 * no GPU device, and nvproxy is weighed on its own: doctor-runsc.ts); ours
 * come after them and win in runsc's parser.
 */
const flagArgs = (flags: Record<string, string>) =>
  Object.entries(flags)
    .filter(([k]) => !k.startsWith('nvproxy'))
    .map(([k, v]) => `--${k}=${v}`)

/** The processes whose command line names `dir` (the sandbox and gofer of this probe, if any survive). */
const processesNaming = (dir: string): number[] =>
  readdirSync('/proc')
    .filter(p => /^\d+$/.test(p) && Number(p) !== process.pid)
    .filter(p => {
      try {
        return readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir)
        /* c8 ignore start -- a process that exits between the listing and the read */
      } catch (er) {
        if (errorCode(er) === 'ENOENT' || errorCode(er) === 'ESRCH') return false
        throw er
      }
      /* c8 ignore stop */
    })
    .map(Number)

/** The gofer's or sandbox's own error from the debug log, else the last line runsc printed, else how it ended. */
const firstFatal = (logs: string, out: string, ended: string): string => {
  const text = readdirSync(logs)
    .map(f => readFileSync(join(logs, f), 'utf8'))
    .join('\n')
  const hooks = /FATAL ERROR: (error executing CreateContainer hooks[^\n]*)/.exec(text)?.[1]
  const fatal = hooks ?? /FATAL ERROR: ([^\n]*)/.exec(text)?.[1]
  return (fatal ?? (out.trim() ? out.trim().split('\n').pop() : undefined) ?? ended).slice(0, 600)
}

/**
 * The hook phase of a GPU pod, run by this very runsc (host path, this
 * machine only, as root): a sandbox it creates (never starts) from a
 * scratch bundle with an empty rootfs, whose createContainer hooks are a
 * probe that marks that hooks run, a probe named `nvidia-cdi-hook` (the
 * form 20260601+ skips), `entry` (our hook as the specs run it), then a
 * probe that opens `<rootfs>/proc/driver/nvidia/params`. `runsc create`
 * runs in a private mount namespace (`unshare -m`) so its own binds (the
 * null network namespace of 20260822) die with it; `runsc delete --force`
 * removes the sandbox, its processes and its state. The scratch directory
 * (in $TMPDIR, else /tmp) is removed only when no mount under it and no
 * process naming it is left.
 * Pass: create succeeded and the params probe opened the file (or runsc
 * ran no hook at all). `hooks`: what the run showed about CDI createContainer hooks.
 */
export const probeHookPhase = (runsc: string, flags: Record<string, string>, entry: OciHook, timeoutMs = PROBE_TIMEOUT_MS): ProbeResult => {
  const scratch = mkdtempSync(join(tmpdir(), 'nvidia-procfs-hook-doctor-runsc-'))
  const id = `nph-doctor-${process.pid}`
  const bundle = join(scratch, 'bundle')
  const rootfs = join(bundle, 'rootfs')
  const marks = join(scratch, 'marks')
  const logs = join(scratch, 'logs')
  const state = join(scratch, 'state')
  const own = ['--root', state, '--ignore-cgroups', '--network=none', '--debug', `--debug-log=${logs}/`]
  let result: ProbeResult
  let left = ''
  try {
    for (const d of [rootfs, marks, logs]) mkdirSync(d, { recursive: true })
    writeFileSync(join(scratch, 'probe'), PROBE, { mode: 0o755 })
    writeFileSync(join(scratch, 'nvidia-cdi-hook'), PROBE, { mode: 0o755 })
    const probe = (args: string[]) => ({ path: join(scratch, 'probe'), args: ['probe', ...args], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] })
    const config = {
      ociVersion: '1.0.2',
      process: { args: ['/nonexistent-never-started'], cwd: '/', env: ['PATH=/bin'], user: { uid: 0, gid: 0 } },
      root: { path: rootfs, readonly: true },
      hooks: {
        createContainer: [
          probe(['mark', join(marks, 'ran')]),
          { path: join(scratch, 'nvidia-cdi-hook'), args: ['nvidia-cdi-hook', 'disable-device-node-modification', join(marks, 'cdi-form')], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] },
          entry,
          probe(['params', join(rootfs, 'proc/driver/nvidia/params'), join(marks, 'params')]),
        ],
      },
      linux: { namespaces: ['pid', 'ipc', 'uts', 'mount', 'network'].map(type => ({ type })) },
    }
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config))
    // The sandbox keeps runsc's stdio open: a file, never a pipe we would wait on.
    const outFile = join(scratch, 'create.out')
    const out = openSync(outFile, 'w')
    let res
    try {
      res = spawnSync('/usr/bin/unshare', ['-m', '--propagation', 'private', '--', runsc, ...flagArgs(flags), ...own, 'create', '--bundle', bundle, id], {
        cwd: bundle,
        env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
        timeout: timeoutMs,
        killSignal: 'SIGKILL',
        stdio: ['ignore', out, out],
      })
    } finally {
      closeSync(out)
    }
    const marked = (name: string) => existsSync(join(marks, name))
    const hooks: RunscHooks | undefined = marked('ran') ? (marked('cdi-form') ? 'runs' : 'runs-but-nvidia-cdi-hook') : res.status === 0 ? 'skips' : undefined
    const shown = hooks === undefined ? {} : { hooks }
    if (res.error) {
      // ETIMEDOUT; anything else means /usr/bin/unshare itself could not be run.
      /* c8 ignore next */
      const why = errorCode(res.error) === 'ETIMEDOUT' ? `no answer within ${timeoutMs / 1000} s` : errorText(res.error)
      result = { pass: false, said: `runsc create: ${why}`, ...shown }
    } else if (res.status !== 0) {
      result = { pass: false, said: firstFatal(logs, readFileSync(outFile, 'utf8'), `runsc create: exit ${res.status ?? res.signal}`), ...shown }
    } else if (hooks === 'skips') {
      result = { pass: true, said: 'the sandbox was created; this runsc ran no createContainer hook', hooks }
    } else {
      result = marked('params')
        ? { pass: true, said: `the sandbox was created; our entry made <rootfs>/proc/driver/nvidia/params readable to the hook after it${hooks === 'runs-but-nvidia-cdi-hook' ? "; runsc skipped the nvidia-cdi-hook form" : ''}`, ...shown }
        : { pass: false, said: 'the sandbox was created but the params probe did not run', ...shown }
    }
  } finally {
    spawnSync(runsc, ['--root', state, 'delete', '--force', id], { stdio: 'ignore', timeout: timeoutMs, killSignal: 'SIGKILL' })
    const mounts = readMountinfo().filter(m => m.mountPoint.startsWith(`${scratch}/`)).length
    const procs = processesNaming(scratch).length
    if (mounts || procs) left = `; left behind: ${mounts} mounts, ${procs} processes under ${scratch}`
    else rmSync(scratch, { recursive: true, force: true })
  }
  return left ? { ...result, pass: false, said: `${result.said}${left}` } : result
}
