import { basename, dirname } from 'node:path'
import { filesIn, isExecutableFile, which, type Host } from './doctor-finding'
import { configProblem, type EngineView, type RunscUse } from './engine'
import { isTable, mergeTables, readToml, tableAt, type Table } from './engine-toml'
import { CONTAINERD_CONFIG } from './host-layout'

/** gVisor's containerd shim type (gvisor.dev "Containerd Advanced Configuration"). */
const RUNSC_SHIM = 'io.containerd.runsc.v1'

/** Where the CRI plugin keeps its runtime handlers: config version 3 (containerd 2.x), 2, and 1. */
const HANDLER_TABLES = [
  ['plugins', 'io.containerd.cri.v1.runtime', 'containerd', 'runtimes'],
  ['plugins', 'io.containerd.grpc.v1.cri', 'containerd', 'runtimes'],
  ['plugins', 'cri', 'containerd', 'runtimes'],
]

/** containerd's `imports`: paths, `*` allowed in the file name; each merged over the main file in order. */
const importedFiles = (host: Host, imports: unknown): string[] =>
  (Array.isArray(imports) ? imports : [])
    .filter((p): p is string => typeof p === 'string' && p.startsWith('/'))
    .flatMap(p => {
      if (!basename(p).includes('*')) return [p]
      const re = new RegExp(`^${basename(p).split('*').map(s => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`)
      return filesIn(host, dirname(p), re)
    })

/**
 * containerd's runtime handlers that run gVisor's shim
 * (`runtime_type = "io.containerd.runsc.v1"`), from /etc/containerd/config.toml
 * and its `imports`, config version 2 or 3. Each handler's runsc is the
 * shim options' `ConfigPath` file's `binary_name` (default `runsc` on
 * containerd's PATH), with the flags of its `[runsc_config]` table, which
 * the shim passes as `--name=value`.
 */
export const containerdView = (host: Host): EngineView => {
  const main = readToml(host, CONTAINERD_CONFIG, 'containerd configuration')
  const view: EngineView = { engine: 'containerd', present: which(host, 'containerd') !== undefined || main !== undefined, extensionStages: [], runscs: [], problems: [] }
  if (main === undefined) return view
  if ('why' in main) {
    view.problems.push(configProblem('containerd', main.why, main.file))
    return view
  }
  let merged = main.table
  for (const file of importedFiles(host, main.table.imports)) {
    const f = readToml(host, file, 'containerd configuration')
    if (f === undefined) continue
    if ('why' in f) view.problems.push(configProblem('containerd', f.why, f.file))
    else merged = mergeTables(merged, f.table)
  }
  for (const keys of HANDLER_TABLES) {
    for (const [name, handler] of Object.entries(tableAt(merged, ...keys) ?? {})) {
      if (!isTable(handler) || handler.runtime_type !== RUNSC_SHIM) continue
      view.runscs.push(handlerRunsc(host, view, name, handler))
    }
  }
  return view
}

const handlerRunsc = (host: Host, view: EngineView, name: string, handler: Table): RunscUse => {
  const options = tableAt(handler, 'options') ?? {}
  const configPath = typeof options.ConfigPath === 'string' ? options.ConfigPath : undefined
  let wanted = 'runsc'
  const flags: Record<string, string> = {}
  if (configPath !== undefined) {
    const shim = readToml(host, configPath, 'runsc shim configuration')
    if (shim !== undefined && 'why' in shim) view.problems.push(configProblem('gVisor\'s shim', shim.why, shim.file))
    else if (shim !== undefined) {
      if (typeof shim.table.binary_name === 'string' && shim.table.binary_name !== '') wanted = shim.table.binary_name
      for (const [k, v] of Object.entries(tableAt(shim.table, 'runsc_config') ?? {})) flags[k] = String(v)
    }
  }
  const binary = wanted.startsWith('/') ? (isExecutableFile(host, wanted) ? wanted : undefined) : which(host, wanted)
  return {
    engine: 'containerd',
    name,
    wanted,
    flags,
    configured: true,
    source: CONTAINERD_CONFIG,
    ...(binary === undefined ? {} : { binary }),
    ...(configPath === undefined ? {} : { flagsFile: configPath }),
  }
}
