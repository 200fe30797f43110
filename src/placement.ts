import { readFileSync, readlinkSync } from 'node:fs'
import { basename } from 'node:path'
import { errorCode } from './errors'

export const STAGES = ['prestart', 'createRuntime', 'createContainer'] as const
export type Stage = (typeof STAGES)[number]

/** Where the hook must act, given the stage and the state's pid (runtimes.md). */
export type Placement =
  | { act: 'here'; stage: Stage }
  | { act: 'enter'; stage: Stage; pid: number }
  | { act: 'skip'; stage: Stage; reason: string }

export interface ProcessProbe {
  /** The process's mount namespace, e.g. "mnt:[4026531832]"; undefined when it is gone. */
  mountNamespace(pid: number | 'self'): string | undefined
  /** Whether the process is gVisor's sandbox (runsc). */
  isRunscSandbox(pid: number): boolean
}

export const procProbe: ProcessProbe = {
  mountNamespace: pid => {
    try {
      return readlinkSync(`/proc/${pid}/ns/mnt`)
    } catch (er) {
      if (errorCode(er) === 'ENOENT' || errorCode(er) === 'ESRCH') return undefined
      throw er
    }
  },
  isRunscSandbox: pid => {
    try {
      return readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'runsc-sandbox' ||
        basename(readlinkSync(`/proc/${pid}/exe`)).startsWith('runsc')
    } catch (er) {
      if (errorCode(er) === 'ENOENT' || errorCode(er) === 'ESRCH') return false
      throw er
    }
  },
}

const REGISTER_FIRST = 'register nvidia-procfs-hook as a createContainer hook placed before NVIDIA\'s hooks'

/**
 * createContainer runs in the container's mount namespace (runc pid 1, crun
 * pid 0, runsc's gofer pid -1): act here. prestart/createRuntime run in the
 * runtime's namespace: reach the container through its pid, or not at all.
 */
export const place = (stage: Stage | undefined, pid: number | undefined, probe: ProcessProbe): Placement => {
  const inferred: Stage = stage ?? (pid !== undefined && pid > 1 ? 'createRuntime' : 'createContainer')
  if (inferred === 'createContainer') return { act: 'here', stage: inferred }
  if (pid === undefined || pid <= 1) {
    return { act: 'skip', stage: inferred, reason: `${inferred} state has no container pid, so its mount namespace cannot be reached; ${REGISTER_FIRST}` }
  }
  if (probe.isRunscSandbox(pid)) {
    return {
      act: 'skip',
      stage: inferred,
      reason: `under runsc, ${inferred} runs after the gofer has run the createContainer hooks: too late to help; ${REGISTER_FIRST}`,
    }
  }
  const theirs = probe.mountNamespace(pid)
  if (theirs === undefined) return { act: 'skip', stage: inferred, reason: `container process ${pid} is gone` }
  if (theirs === probe.mountNamespace('self')) {
    return {
      act: 'skip',
      stage: inferred,
      reason: `container process ${pid} shares the runtime's mount namespace; refusing to mount there (it would leak onto the host)`,
    }
  }
  return { act: 'enter', stage: inferred, pid }
}
