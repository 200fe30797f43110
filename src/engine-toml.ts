import { parse, TomlError } from 'smol-toml'
import { filesIn, readText, statHost, type Host } from './doctor-finding'

// Engines' TOML configuration (containerd's config.toml, CRI-O's crio.conf,
// podman's containers.conf, gVisor's shim runsc.toml), read as the engines
// merge it. smol-toml is loaded only by doctor (cli.ts requires doctor
// lazily), never by the hook.

export type Table = Record<string, unknown>

export const isTable = (v: unknown): v is Table => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)

/** One configuration file: its table, or why it cannot be used (the engine refuses it too). */
export type TomlFile = { file: string; table: Table } | { file: string; why: string }

/** A host file parsed as TOML; undefined when it does not exist. */
export const readToml = (host: Host, file: string, what: string): TomlFile | undefined => {
  if (statHost(host, file) === undefined) return undefined
  const text = readText(host, file, what)
  if ('why' in text) return { file, why: text.why }
  try {
    return { file, table: parse(text.text) }
  } catch (er) {
    /* c8 ignore next -- smol-toml's parse throws TomlErrors */
    if (!(er instanceof TomlError)) throw er
    // Its message's first line says what; the rest is a code excerpt.
    return { file, why: `${what} ${file} is not valid TOML (${er.message.split('\n')[0]} at line ${er.line})` }
  }
}

/**
 * The files an engine reads, in its order: `files` that exist, then each
 * drop-in directory's `*.conf` sorted by name. Each read as TOML.
 */
export const readConfigs = (host: Host, files: readonly string[], dropIns: readonly string[], what: string): TomlFile[] =>
  [...files, ...dropIns.flatMap(d => filesIn(host, d, /\.conf$/))].flatMap(f => readToml(host, f, what) ?? [])

/** The table at `keys` under `t`, if every step is a table. */
export const tableAt = (t: unknown, ...keys: string[]): Table | undefined => {
  let cur: unknown = t
  for (const k of keys) {
    if (!isTable(cur)) return undefined
    cur = cur[k]
  }
  return isTable(cur) ? cur : undefined
}

/** A string list value (TOML array of strings); undefined when absent or of another shape. */
export const stringList = (v: unknown): string[] | undefined => (Array.isArray(v) && v.every(s => typeof s === 'string') ? (v as string[]) : undefined)

/** Tables merged key by key, later winning; tables within merged the same way (how CRI-O's and containerd's drop-ins apply). */
export const mergeTables = (a: Table, b: Table): Table => {
  const out: Table = { ...a }
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k]
    out[k] = isTable(prev) && isTable(v) ? mergeTables(prev, v) : v
  }
  return out
}
