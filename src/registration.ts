import { basename, isAbsolute } from 'node:path'
import { UsageError } from './errors'
import type { Flags } from './parse-args'
import type { Stage } from './placement'
import { RISKY } from './sanitize-env'

/** Where packages install the binary; every registration may name another. */
export const DEFAULT_BINARY = '/usr/bin/nvidia-procfs-hook'

export const NAME = 'nvidia-procfs-hook'

/**
 * The whole environment our hook gets. Explicit, because a createContainer
 * hook without `env` inherits the container image's (CVE-2025-23266).
 */
export const HOOK_ENV = ['PATH=/usr/sbin:/usr/bin:/sbin:/bin']

/** An OCI hook (runtime-spec config.md); CDI adds `hookName`. */
export interface OciHook {
  path: string
  args: string[]
  env: string[]
}

export interface EntryOptions {
  binary?: string
  logFile?: string
  stage?: Stage
}

/** Our hook entry: the one definition that precreate, cdi and hooks.d share. */
export const ourHook = ({ binary = DEFAULT_BINARY, logFile, stage = 'createContainer' }: EntryOptions = {}): OciHook => ({
  path: binary,
  args: [NAME, 'hook', '--stage', stage, ...(logFile === undefined ? [] : ['--log-file', logFile])],
  env: [...HOOK_ENV],
})

/** The same entry as a CDI `containerEdits.hooks` item. */
export const ourCdiHook = (opts: Omit<EntryOptions, 'stage'> = {}) => ({ hookName: 'createContainer', ...ourHook(opts) })

const fields = (hook: unknown): { path?: unknown; args?: unknown } =>
  typeof hook === 'object' && hook !== null ? (hook as { path?: unknown; args?: unknown }) : {}

/**
 * NVIDIA's CDI hooks in both forms (nvidia.md): `nvidia-ctk` with args
 * `[nvidia-ctk, hook, <name>, ...]`, and `nvidia-cdi-hook` with
 * `[nvidia-cdi-hook, <name>, ...]`. By file name, since packages install
 * them in /usr/bin or /usr/local/bin.
 */
export const isNvidiaHook = (hook: unknown): boolean => {
  const { path, args } = fields(hook)
  if (typeof path !== 'string') return false
  const name = basename(path)
  if (name === 'nvidia-cdi-hook') return true
  return name === 'nvidia-ctk' && Array.isArray(args) && args[1] === 'hook'
}

/** Ours, whatever binary path or options it was written with. */
export const isOurHook = (hook: unknown): boolean => {
  const { path, args } = fields(hook)
  return (typeof path === 'string' && basename(path) === NAME) || (Array.isArray(args) && args[0] === NAME)
}

/**
 * NVIDIA's `disable-device-node-modification`, the one hook that needs
 * `<rootfs>/proc/driver/nvidia` (nvidia.md), in either form.
 */
export const isDisableDeviceNodeModification = (hook: unknown): boolean => {
  const { path, args } = fields(hook)
  if (!isNvidiaHook(hook) || !Array.isArray(args)) return false
  return args[basename(path as string) === 'nvidia-ctk' ? 2 : 1] === 'disable-device-node-modification'
}

/**
 * Why an entry of ours is not safe to keep, or undefined when it is: a
 * hook without `env` inherits the image's environment under runc
 * (runtimes.md), and one whose `env` names a variable that loads code
 * (sanitize-env.ts RISKY: the loader's, as in CVE-2025-23266, Node's,
 * OpenSSL's, glibc's) lets code in.
 */
export const unsafeEnv = (hook: unknown): string | undefined => {
  const env = typeof hook === 'object' && hook !== null ? (hook as { env?: unknown }).env : undefined
  if (!Array.isArray(env)) return 'no env (it would inherit the container image\'s, LD_PRELOAD included)'
  const names = env.map(kv => (typeof kv === 'string' ? kv.slice(0, kv.indexOf('=') >>> 0) : ''))
  const risky = names.filter(n => RISKY.test(n))
  if (risky.length) return `env sets ${risky.join(', ')}`
  if (names.some((n, i) => n === '' || !(env[i] as string).includes('='))) return 'env holds an item that is not NAME=VALUE'
  return undefined
}

/** One change to a hooks list, by index in the list as it stands. */
export type ListOp =
  | { op: 'insert'; at: number }
  | { op: 'replace'; at: number; why: string; options: Omit<EntryOptions, 'stage'> }
  | { op: 'remove'; at: number }

/** The binary and log file an entry of ours runs with, so a replacement keeps them. */
const optionsOf = (hook: unknown): Omit<EntryOptions, 'stage'> => {
  const { path, args } = fields(hook)
  const opts: Omit<EntryOptions, 'stage'> = typeof path === 'string' && isAbsolute(path) ? { binary: path } : {}
  const i = Array.isArray(args) ? args.indexOf('--log-file') : -1
  const logFile = i >= 0 ? (args as unknown[])[i + 1] : undefined
  if (typeof logFile === 'string' && isAbsolute(logFile)) opts.logFile = logFile
  return opts
}

/**
 * What a hooks list needs (design.md "Registration"): where it holds
 * disable-device-node-modification, one entry of ours right before its
 * first NVIDIA hook; every entry of ours safe (else replaced in place,
 * keeping its binary and log file); where it does not, no entry of ours
 * (removed, when `removeUnneeded`; precreate leaves a runtime config's
 * other lists alone). `isCreateContainer` picks the stage's hooks from a
 * mixed list (CDI's). Returns the changes, none when the list is done.
 */
export const planHooksList = (
  hooks: readonly unknown[],
  { isCreateContainer = () => true, removeUnneeded }: { isCreateContainer?: (hook: unknown) => boolean; removeUnneeded: boolean },
): ListOp[] => {
  const stage = [...hooks.entries()].filter(([, h]) => isCreateContainer(h))
  const ours = stage.filter(([, h]) => isOurHook(h)).map(([i]) => i)
  const needed = stage.some(([, h]) => isDisableDeviceNodeModification(h))
  if (!needed && removeUnneeded) return ours.map(at => ({ op: 'remove', at }))
  const ops: ListOp[] = []
  const firstNvidia = stage.find(([, h]) => isNvidiaHook(h))?.[0]
  if (needed && firstNvidia !== undefined && !ours.some(i => i < firstNvidia)) ops.push({ op: 'insert', at: firstNvidia })
  for (const at of ours) {
    const why = unsafeEnv(hooks[at])
    if (why !== undefined) ops.push({ op: 'replace', at, why, options: optionsOf(hooks[at]) })
  }
  return ops
}

/** One line on a list's changes, for `check` and doctor. */
export const describeOps = (ops: readonly ListOp[]): string =>
  ops
    .map(o =>
      o.op === 'insert' ? `no ${NAME} before NVIDIA's hooks`
      : o.op === 'remove' ? `an entry of ours where no hook needs it`
      : `an unsafe entry of ours (${o.why})`,
    )
    .join('; ')

/** --binary and --log-file, shared by precreate and cdi: both must be absolute (runtimes resolve nothing). */
export const entryOptionsFrom = (flags: Flags, command: string): Omit<EntryOptions, 'stage'> => {
  const opts: Omit<EntryOptions, 'stage'> = {}
  for (const [flag, key] of [['binary', 'binary'], ['log-file', 'logFile']] as const) {
    const v = flags[flag] as string | undefined
    if (v === undefined) continue
    if (!isAbsolute(v)) throw new UsageError(`${command}: --${flag} must be an absolute path`)
    opts[key] = v
  }
  return opts
}
