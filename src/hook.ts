import { isAbsolute, join } from 'node:path'
import { rootfsFromBundle } from './bundle-config'
import { HookError, UsageError } from './errors'
import { debugFor, enableDebug, openRunLog } from './log'
import { parseState, type OciState } from './oci-state'
import { parseArgs } from './parse-args'
import { place, STAGES, type ProcessProbe, type Stage } from './placement'
import { provideProcfs, statSource, type Outcome } from './provide-procfs'
import { readFdBounded, readFileBounded } from './read-bounded'
import { runUtil } from './mount'

const debug = debugFor('hook')

export const DEFAULT_SOURCE = '/proc/driver/nvidia'

export const HOOK_USAGE = `Usage: nvidia-procfs-hook [hook] [options] < state.json

Makes <rootfs>/proc/driver/nvidia a read-only bind of the host's
/proc/driver/nvidia so NVIDIA's CDI hooks find params under gVisor.

Options:
  --stage S         prestart | createRuntime | createContainer (inferred when absent)
  --state FILE      read the OCI state from FILE instead of stdin
  --bundle DIR      standalone: act on the bundle's rootfs (no state needed)
  --rootfs DIR      standalone: act on DIR
  --source DIR      what to bind (default ${DEFAULT_SOURCE})
  --dry-run         print the plan, touch nothing
  --debug           trace each step on stderr
  --log-file FILE   append one JSON line per run
Exit: 0 done or skipped, 1 failed (the container must not start), 2 usage.
`

export interface HookIO {
  stdin: number
  isTTY: (fd: number) => boolean
  out: (line: string) => void
  err: (line: string) => void
  probe: ProcessProbe
  /** How to re-run this program: [executable, ...leading args]. */
  self: string[]
}

interface Target {
  state?: OciState
  rootfs: string
  standalone: boolean
}

const readTarget = (flags: Record<string, string | undefined>, io: HookIO): Target => {
  const standalone = flags.bundle !== undefined || flags.rootfs !== undefined
  if (standalone && flags.state !== undefined) {
    throw new UsageError('hook: --state cannot be combined with --bundle or --rootfs')
  }
  for (const name of ['bundle', 'rootfs', 'state', 'source'] as const) {
    const v = flags[name]
    if (v !== undefined && !isAbsolute(v)) throw new UsageError(`hook: --${name} must be an absolute path`)
  }
  if (standalone) {
    return { rootfs: flags.rootfs ?? rootfsFromBundle(flags.bundle as string), standalone }
  }
  if (flags.state === undefined && io.isTTY(io.stdin)) {
    throw new UsageError('hook: expected the OCI state on stdin (or --state, --bundle, --rootfs); see --help')
  }
  const state =
    flags.state !== undefined
      ? parseState(readFileBounded(flags.state, 'state file'), flags.state)
      : parseState(readFdBounded(io.stdin, 'state on stdin'), 'stdin')
  const rootfs =
    state.root !== undefined
      ? isAbsolute(state.root) ? state.root : join(state.bundle, state.root)
      : rootfsFromBundle(state.bundle)
  return { state, rootfs, standalone }
}

/** Runs the OCI hook; returns the exit code. */
export const hookCommand = (argv: string[], io: HookIO): number => {
  const started = process.hrtime.bigint()
  const flags = parseArgs(
    argv,
    { string: ['stage', 'state', 'bundle', 'rootfs', 'source', 'log-file'], boolean: ['dry-run', 'debug'] },
    'hook',
  )
  if (flags.help) {
    io.out(HOOK_USAGE)
    return 0
  }
  if (flags._.length) throw new UsageError(`hook: unexpected argument ${JSON.stringify(flags._[0])}`)
  if (flags.debug) enableDebug()
  const stage = flags.stage as string | undefined
  if (stage !== undefined && !(STAGES as readonly string[]).includes(stage)) {
    throw new UsageError(`hook: --stage must be one of ${STAGES.join(', ')}`)
  }
  const logFile = flags['log-file'] as string | undefined
  if (logFile !== undefined && !isAbsolute(logFile)) throw new UsageError('hook: --log-file must be an absolute path')
  const log = logFile === undefined ? undefined : openRunLog(logFile, io.err)
  const source = (flags.source as string | undefined) ?? DEFAULT_SOURCE
  let target: Target | undefined
  let placedStage: Stage | undefined = stage as Stage | undefined
  const finish = (outcome: Outcome | { action: 'failed'; reason: string }, exitCode: number) => {
    if (log !== undefined) {
      log.write({
        time: new Date().toISOString(),
        id: target?.state?.id,
        stage: placedStage,
        rootfs: target?.rootfs,
        action: outcome.action,
        reason: outcome.reason,
        exitCode,
        durationMs: Number(process.hrtime.bigint() - started) / 1e6,
      })
    }
    return exitCode
  }
  try {
    target = readTarget(flags, io)
    debug('rootfs %s, state %o', target.rootfs, target.state)
    // Cheapest check first: without a driver there is nothing to do.
    if (!statSource(source)) {
      const outcome: Outcome = { action: 'skipped', reason: `no NVIDIA driver loaded (${source} does not exist)`, warning: false }
      report(outcome, target.standalone, io)
      return finish(outcome, 0)
    }
    const placement = target.standalone ? { act: 'here' as const, stage: placedStage } : place(placedStage, target.state?.pid, io.probe)
    placedStage = placement.stage
    debug('placement %o', placement)
    let outcome: Outcome
    if (placement.act === 'skip') {
      outcome = { action: 'skipped', reason: placement.reason, warning: true }
    } else if (placement.act === 'enter') {
      outcome = enterAndProvide(placement.pid, target.rootfs, source, flags['dry-run'] === true, io)
    } else {
      outcome = provideProcfs({ rootfs: target.rootfs, source, dryRun: flags['dry-run'] === true })
    }
    report(outcome, target.standalone, io)
    return finish(outcome, 0)
  } catch (er) {
    if (er instanceof HookError && !(er instanceof UsageError)) finish({ action: 'failed', reason: er.message }, er.exitCode)
    throw er
  }
}

const report = (outcome: Outcome, standalone: boolean, io: HookIO) => {
  if (outcome.action === 'planned') {
    for (const line of outcome.plan) io.out(`would ${line}`)
    if (!outcome.plan.length) io.out(`would ${outcome.reason}`)
  } else if (outcome.action === 'skipped' && outcome.warning) {
    io.err(`nvidia-procfs-hook: warning: ${outcome.reason}`)
  } else if (standalone) {
    // A person running it by hand wants to know; runtimes get silence.
    io.err(`nvidia-procfs-hook: ${outcome.action}: ${outcome.reason}`)
  }
}

/**
 * prestart/createRuntime: look at the container through /proc/PID/root, and
 * only when a mount is needed re-run ourselves inside its mount namespace,
 * since a mount made here would stay in the runtime's (host) namespace.
 */
const enterAndProvide = (pid: number, rootfs: string, source: string, dryRun: boolean, io: HookIO): Outcome => {
  const seen = provideProcfs({ rootfs: `/proc/${pid}/root${rootfs}`, source, inspectOnly: true, mountinfoPid: pid })
  if (seen.action === 'skipped') return seen
  const args = [`--mount=/proc/${pid}/ns/mnt`, '--', ...io.self, 'hook', '--stage', 'createContainer', '--rootfs', rootfs, '--source', source]
  if (dryRun) return { action: 'planned', reason: `mount needed; would run: nsenter ${args.join(' ')}`, plan: [] }
  debug('entering the mount namespace of %d', pid)
  // The child is a standalone run: it ends with one line saying what it did.
  const said = runUtil('nsenter', args).trim()
  const m = /(?:^|\n)nvidia-procfs-hook: (mounted|repaired|skipped): ([^\n]*)$/.exec(said)
  if (!m) throw new HookError(`in the mount namespace of pid ${pid}: unexpected answer ${JSON.stringify(said)}`)
  const reason = `in the mount namespace of pid ${pid}: ${m[2]}`
  if (m[1] === 'skipped') return { action: 'skipped', reason, warning: false }
  if (m[1] === 'repaired') return { action: 'repaired', reason }
  return { action: 'mounted', reason, created: [] }
}
