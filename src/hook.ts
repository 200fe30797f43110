import { isAbsolute, join } from 'node:path'
import { rootfsFromBundle } from './bundle-config'
import { errorCode, HookError, UsageError } from './errors'
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

/** A state whose bundle config this namespace may not read (see readTarget). */
interface Unreadable {
  state: OciState
  standalone: boolean
  unreadable: string
}

/** Checks the target flags without reading anything; returns whether the run is standalone. */
const checkTargetFlags = (flags: Record<string, string | undefined>, io: HookIO): boolean => {
  const standalone = flags.bundle !== undefined || flags.rootfs !== undefined
  if (standalone && flags.state !== undefined) {
    throw new UsageError('hook: --state cannot be combined with --bundle or --rootfs')
  }
  for (const name of ['bundle', 'rootfs', 'state', 'source'] as const) {
    const v = flags[name]
    if (v !== undefined && !isAbsolute(v)) throw new UsageError(`hook: --${name} must be an absolute path`)
  }
  if (!standalone && flags.state === undefined && io.isTTY(io.stdin)) {
    throw new UsageError('hook: expected the OCI state on stdin (or --state, --bundle, --rootfs); see --help')
  }
  return standalone
}

/**
 * The state and rootfs (flags already checked). A bundle config.json that a
 * user namespace not mapping host root may not read gives `unreadable`.
 */
const readTarget = (flags: Record<string, string | undefined>, io: HookIO, standalone: boolean): Target | Unreadable => {
  if (standalone) {
    return { rootfs: flags.rootfs ?? rootfsFromBundle(flags.bundle as string), standalone }
  }
  const state =
    flags.state !== undefined
      ? parseState(readFileBounded(flags.state, 'state file'), flags.state)
      : parseState(readFdBounded(io.stdin, 'state on stdin'), 'stdin')
  if (state.root !== undefined) return { state, rootfs: isAbsolute(state.root) ? state.root : join(state.bundle, state.root), standalone }
  try {
    return { state, rootfs: rootfsFromBundle(state.bundle), standalone }
  } catch (er) {
    // rootfsFromBundle's errors are HookErrors; a system error behind one is its cause.
    const code = errorCode((er as Error).cause)
    if (code !== 'EACCES' && code !== 'EPERM') throw er
    /* c8 ignore start -- root reads any file: only a user namespace gets here (test/system/userns-hook.ts runs it) */
    if (mapsHostRoot(readFileBounded('/proc/self/uid_map', 'uid map'))) throw er
    return {
      state,
      standalone,
      unreadable:
        `${state.bundle}/config.json is unreadable here (${code}): a user namespace that does not map host root ` +
        '(rootless, or --uidmap), where runc and crun mount the container\'s own procfs and runsc\'s gofer never runs',
    }
  }
  /* c8 ignore stop */
}

/**
 * Whether a /proc/self/uid_map text (lines "inside outside count",
 * user_namespaces(7)) maps host uid 0 into this namespace.
 */
export const mapsHostRoot = (uidMap: string): boolean =>
  uidMap.split('\n').some(line => {
    const [, outside] = line.trim().split(/\s+/)
    return outside === '0'
  })

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
  const source = (flags.source as string | undefined) ?? DEFAULT_SOURCE
  // Cheapest check first, before any other read: without a driver there is
  // nothing to do, whatever the state, config.json or log file would say
  // (a rootless container may be unable to read them).
  const standalone = checkTargetFlags(flags, io)
  let driver: ReturnType<typeof statSource> | Error
  try {
    driver = statSource(source)
  } catch (er) {
    driver = er as Error
  }
  // At most one stderr line a run: a log that cannot be opened is said only
  // when the run has nothing else to say (a failure's line matters more).
  let logWarning: string | undefined
  const log = logFile === undefined ? undefined : openRunLog(logFile, line => (logWarning = line))
  // What the log line names: the state's id and the rootfs, once known.
  let logged: { id?: string; rootfs?: string } = {}
  let placedStage: Stage | undefined = stage as Stage | undefined
  const finish = (outcome: Outcome | { action: 'failed'; reason: string }, exitCode: number) => {
    log?.write({
      time: new Date().toISOString(),
      ...logged,
      stage: placedStage,
      action: outcome.action,
      reason: outcome.reason,
      exitCode,
      durationMs: Number(process.hrtime.bigint() - started) / 1e6,
    })
    return exitCode
  }
  const conclude = (outcome: Outcome) => {
    if (!report(outcome, standalone, io) && logWarning !== undefined) io.err(logWarning)
    return finish(outcome, 0)
  }
  try {
    debug('source %s: %s', source, driver instanceof Error ? driver.message : driver ? 'present' : 'absent')
    if (driver instanceof Error) throw driver
    if (!driver) {
      return conclude({ action: 'skipped', reason: `no NVIDIA driver loaded (${source} does not exist)`, warning: false })
    }
    const target = readTarget(flags, io, standalone)
    logged = { id: target.state?.id }
    /* c8 ignore next -- as in readTarget: only a user namespace (test/system/userns-hook.ts) */
    if ('unreadable' in target) return conclude({ action: 'skipped', reason: target.unreadable, warning: false })
    logged.rootfs = target.rootfs
    debug('rootfs %s, state %o', target.rootfs, target.state)
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
    return conclude(outcome)
  } catch (er) {
    if (er instanceof HookError && !(er instanceof UsageError)) finish({ action: 'failed', reason: er.message }, er.exitCode)
    throw er
  }
}

/** Says what a run did (stdout for a plan, stderr otherwise); returns whether it wrote to stderr. */
const report = (outcome: Outcome, standalone: boolean, io: HookIO): boolean => {
  if (outcome.action === 'planned') {
    for (const line of outcome.plan) io.out(`would ${line}`)
    if (!outcome.plan.length) io.out(`would ${outcome.reason}`)
    return false
  }
  if (outcome.action === 'skipped' && outcome.warning) {
    io.err(`nvidia-procfs-hook: warning: ${outcome.reason}`)
    return true
  }
  // A person running it by hand wants to know; runtimes get silence.
  if (standalone) io.err(`nvidia-procfs-hook: ${outcome.action}: ${outcome.reason}`)
  return standalone
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
