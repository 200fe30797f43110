import createDebug from 'debug'
import { closeSync, constants, openSync, writeSync } from 'node:fs'
import { errorCode, HookError } from './errors'

const NAMESPACE = 'nvidia-procfs-hook'

export const debugFor = (module: string) => createDebug(`${NAMESPACE}:${module}`)

export const enableDebug = () => createDebug.enable(`${NAMESPACE}:*`)

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

/**
 * Appends one JSON line. O_NOFOLLOW: the log path is ours, and a symlink
 * planted there must not redirect a root-owned write.
 */
export const appendRecord = (file: string, record: RunRecord): void => {
  let fd: number
  try {
    fd = openSync(file, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640)
  } catch (er) {
    throw new HookError(`cannot open log file ${file}: ${errorCode(er) ?? (er as Error).message}`)
  }
  try {
    writeSync(fd, JSON.stringify(record) + '\n')
  } finally {
    closeSync(fd)
  }
}
