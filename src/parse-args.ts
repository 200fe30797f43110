import minimist from 'minimist'
import { UsageError } from './errors'

export interface FlagSpec {
  string?: string[]
  boolean?: string[]
}

export type Flags = minimist.ParsedArgs

/**
 * minimist, made strict: an unknown `--flag` is a usage error instead of
 * silently swallowing the next word (toolchain.md), and a string flag
 * without a value is refused rather than read as "".
 */
export const parseArgs = (argv: string[], spec: FlagSpec, command: string): Flags => {
  const known = new Set([...(spec.string ?? []), ...(spec.boolean ?? []), 'help', 'h'])
  const flags = minimist(argv, {
    string: spec.string ?? [],
    boolean: [...(spec.boolean ?? []), 'help'],
    alias: { h: 'help' },
    unknown: arg => {
      if (/^-/.test(arg) && arg !== '-') {
        const name = arg.replace(/^-+/, '').split('=')[0] as string
        if (!known.has(name)) throw new UsageError(`${command}: unknown option ${arg}`)
      }
      return true
    },
  })
  for (const name of spec.string ?? []) {
    const v: unknown = flags[name]
    if (Array.isArray(v)) throw new UsageError(`${command}: --${name} given more than once`)
    if (v === '') throw new UsageError(`${command}: --${name} needs a value`)
  }
  return flags
}
