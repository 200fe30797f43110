import { HookError, UsageError } from './errors'
import type { HookIO } from './hook'
import { parseArgs } from './parse-args'
import { readFdBounded } from './read-bounded'
import { jsonListEdits, memberOf, parseJsonText, type JsonNode } from './json-text'
import { DEFAULT_BINARY, entryOptionsFrom, ourHook, planHooksList, type EntryOptions } from './registration'
import { applyEdits } from './text-edit'

export const PRECREATE_USAGE = `Usage: nvidia-procfs-hook precreate [options] < config.json > config.json

podman's precreate stage (hooks.d): puts a createContainer entry for this
hook right before NVIDIA's first createContainer hook in the OCI config,
when that list holds disable-device-node-modification; an entry of ours
with a missing or unsafe env is replaced. Only that entry changes: every
other byte (numbers such as 18446744073709551615 included) is written back
as it came.

Options:
  --binary PATH     the hook the entry runs (default ${DEFAULT_BINARY})
  --log-file FILE   the entry passes --log-file FILE to the hook
`

/**
 * The config with our entry in place; `text` itself when nothing is needed.
 * The config.json a runtime writes is spliced, never re-serialised:
 * podman's decoder refuses 2^64-1 (an rlimit) rounded by JSON.parse, so
 * every byte outside our entry stays as it came.
 */
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
  const ops = planHooksList(list, { removeUnneeded: false })
  if (!ops.length) return text
  // The same list JSON.parse found: both take the last of duplicate keys.
  const node = memberOf(memberOf(parseJsonText(text), 'hooks'), 'createContainer') as Extract<JsonNode, { kind: 'array' }>
  return applyEdits(text, jsonListEdits(text, node, ops, ourHook, opts))
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
