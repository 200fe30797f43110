import { basename } from 'node:path'
import { isExecutableFile, which, type Host } from './doctor-finding'
import { configProblem, type EngineView } from './engine'
import { isTable, mergeTables, readConfigs, stringList, tableAt, type Table } from './engine-toml'
import { CRIO_CONF_D, CRIO_CONF_FILES, HOOKS_D_DIRS } from './host-layout'

/** CRI-O's hooks_dir when its configuration sets none: hooks.DefaultDir (runtimes.md "CRI-O and the NRI hook-injector"). */
const CRIO_DEFAULT_HOOKS_DIRS = [HOOKS_D_DIRS[0] as string]

/**
 * CRI-O's effective settings (crio.conf(5)): CRIO_CONF_FILES then
 * CRIO_CONF_D's `*.conf` in name order, each merged over the last, table
 * by table. `[crio.runtime] hooks_dir` (CRI-O loads it with no extension
 * stages, so one `precreate` file stops it); each
 * `[crio.runtime.runtimes.NAME]` whose runtime_path (default: NAME on PATH)
 * is a runsc.
 */
export const crioView = (host: Host): EngineView => {
  const files = readConfigs(host, CRIO_CONF_FILES, [CRIO_CONF_D], 'CRI-O configuration')
  const view: EngineView = { engine: 'CRI-O', present: which(host, 'crio') !== undefined || files.length > 0, extensionStages: [], runscs: [], problems: [] }
  let merged: Table = {}
  const sourceOf: Record<string, string> = {}
  for (const f of files) {
    if ('why' in f) {
      view.problems.push(configProblem('CRI-O', f.why, f.file))
      continue
    }
    merged = mergeTables(merged, f.table)
    for (const name of Object.keys(tableAt(f.table, 'crio', 'runtime', 'runtimes') ?? {})) sourceOf[name] = f.file
  }
  const runtime = tableAt(merged, 'crio', 'runtime') ?? {}
  view.hooksDirs = stringList(runtime.hooks_dir) ?? CRIO_DEFAULT_HOOKS_DIRS
  if (!view.present) return view
  for (const [name, value] of Object.entries(tableAt(runtime, 'runtimes') ?? {})) {
    if (!isTable(value)) continue
    const path = typeof value.runtime_path === 'string' && value.runtime_path !== '' ? value.runtime_path : undefined
    const wanted = path ?? name
    if (basename(wanted) !== 'runsc') continue
    const binary = path === undefined ? which(host, name) : isExecutableFile(host, path) ? path : undefined
    view.runscs.push({ engine: 'CRI-O', name, wanted, flags: {}, configured: true, ...(binary === undefined ? {} : { binary }), source: sourceOf[name] as string })
  }
  return view
}
