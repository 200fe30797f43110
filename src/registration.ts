import { basename, isAbsolute } from 'node:path'
import { UsageError } from './errors'
import type { Flags } from './parse-args'
import type { Stage } from './placement'

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
 * Where our entry must go in a hook list: right before the first NVIDIA
 * createContainer hook, unless one of ours already stands before it.
 * `isCreateContainer` filters mixed lists (CDI's); undefined: nothing to do.
 */
export const insertionIndex = (hooks: readonly unknown[], isCreateContainer: (hook: unknown) => boolean = () => true): number | undefined => {
  for (const [i, hook] of hooks.entries()) {
    if (!isCreateContainer(hook)) continue
    if (isOurHook(hook)) return undefined
    if (isNvidiaHook(hook)) return i
  }
  return undefined
}

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
