import { HookError, UsageError } from './errors'
import type { HookIO } from './hook'
import { parseArgs } from './parse-args'
import { readFdBounded } from './read-bounded'
import { DEFAULT_BINARY, entryOptionsFrom, insertionIndex, ourHook, type EntryOptions } from './registration'

export const PRECREATE_USAGE = `Usage: nvidia-procfs-hook precreate [options] < config.json > config.json

podman's precreate stage (hooks.d): puts a createContainer entry for this
hook right before NVIDIA's first createContainer hook in the OCI config.
A config without NVIDIA hooks, or with our entry already in front, is
written back byte for byte.

Options:
  --binary PATH     the hook the entry runs (default ${DEFAULT_BINARY})
  --log-file FILE   the entry passes --log-file FILE to the hook
`

/** The config with our entry in place; `text` itself when nothing is needed. */
export const precreate = (text: string, opts: Omit<EntryOptions, 'stage'>): string => {
  let config: unknown
  try {
    config = JSON.parse(text)
  } catch (er) {
    throw new HookError(`precreate: the OCI config on stdin is not JSON (${(er as Error).message})`)
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new HookError('precreate: the OCI config on stdin is not a JSON object')
  }
  const hooks: unknown = (config as { hooks?: unknown }).hooks
  const list: unknown = typeof hooks === 'object' && hooks !== null ? (hooks as { createContainer?: unknown }).createContainer : undefined
  if (!Array.isArray(list)) return text
  const at = insertionIndex(list)
  if (at === undefined) return text
  list.splice(at, 0, ourHook(opts))
  return JSON.stringify(config)
}

/** podman runs this with the config on stdin and takes stdout as the new config. */
export const precreateCommand = (argv: string[], io: HookIO): number => {
  const flags = parseArgs(argv, { string: ['binary', 'log-file'] }, 'precreate')
  if (flags.help) {
    io.out(PRECREATE_USAGE)
    return 0
  }
  if (flags._.length) throw new UsageError(`precreate: unexpected argument ${JSON.stringify(flags._[0])}`)
  const opts = entryOptionsFrom(flags, 'precreate')
  if (io.isTTY(io.stdin)) throw new UsageError('precreate: expected the OCI config on stdin; see --help')
  // Raw write, not io.out: a pass-through must not gain even a newline.
  process.stdout.write(precreate(readFdBounded(io.stdin, 'OCI config on stdin'), opts))
  return 0
}
