import type createDebug from 'debug'
import { closeSync, constants, openSync, writeSync } from 'node:fs'
import { errorText } from './errors'

const NAMESPACE = 'nvidia-procfs-hook'

// debug pulls in tty and with it net and streams (~8 ms of start-up), so it
// is loaded only once tracing is asked for: DEBUG set, or --debug.
let lib: typeof createDebug | undefined
const load = () => (lib ??= require('debug') as typeof createDebug)

export type Trace = (formatter: unknown, ...args: unknown[]) => void

export const debugFor = (module: string): Trace => {
  let d: createDebug.Debugger | undefined
  return (formatter, ...args) => {
    if (lib === undefined && process.env.DEBUG === undefined) return
    d ??= load()(`${NAMESPACE}:${module}`)
    d(formatter, ...args)
  }
}

export const enableDebug = () => load().enable(`${NAMESPACE}:*`)

/** What one run did, as written to --log-file. */
export interface RunRecord {
  time: string
  id?: string
  stage?: string
  rootfs?: string
  action: string
  reason: string
  exitCode: number
  durationMs: number
}

export interface RunLog {
  /** Appends the run's one JSON line; a failed write is a warning, not a new verdict. */
  write(record: RunRecord): void
}

/**
 * Opens --log-file before the hook acts. A log that cannot be opened (a
 * root-only directory seen from a rootless or --uidmap container, a full
 * disk) is one warning through `warn` and no log: the container's fate is
 * decided by the mount alone. Returns undefined then. O_NOFOLLOW: the log
 * path is ours, and a symlink planted there must not redirect a root-owned
 * write (ELOOP, warned like any other failure).
 */
export const openRunLog = (file: string, warn: (line: string) => void): RunLog | undefined => {
  let fd: number
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640)
  } catch (er) {
    warn(`nvidia-procfs-hook: warning: cannot open log file ${file}: ${errorText(er)}; this run is not logged`)
    return undefined
  }
  return {
    write: record => {
      try {
        writeSync(fd, JSON.stringify(record) + '\n')
      } catch (er) {
        warn(`nvidia-procfs-hook: warning: cannot write log file ${file}: ${errorText(er)}`)
      } finally {
        closeSync(fd)
      }
    },
  }
}
