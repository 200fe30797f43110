import { basename } from 'node:path'
import { isExecutableFile, which, type Host } from './doctor-finding'
import { configProblem, type EngineView, type RunscUse } from './engine'
import { isTable, readConfigs, stringList, tableAt, type Table } from './engine-toml'
import { CONTAINERS_CONF_D, CONTAINERS_CONF_FILES, PODMAN_DEFAULT_HOOKS_DIRS } from './host-layout'

/** containers/common's built-in `[engine.runtimes] runsc` list: the first that exists is used. */
const DEFAULT_RUNSC = ['/usr/bin/runsc', '/usr/sbin/runsc', '/usr/local/bin/runsc', '/usr/local/sbin/runsc', '/bin/runsc', '/sbin/runsc', '/run/current-system/sw/bin/runsc']

/**
 * podman's effective settings (containers.conf(5)): the files of
 * host-layout.ts's CONTAINERS_CONF_FILES then CONTAINERS_CONF_D's `*.conf`,
 * later overriding earlier. `[engine] hooks_dir` replaces the list, or
 * appends when the array ends with `{append=true}` (podman 5); unset, it is
 * PODMAN_DEFAULT_HOOKS_DIRS. `[engine.runtimes]` entries replace the
 * built-in list of the same name; each runsc (named runsc, or a list of
 * paths ending in /runsc) resolves to its first existing path.
 */
export const podmanView = (host: Host): EngineView => {
  const files = readConfigs(host, CONTAINERS_CONF_FILES, [CONTAINERS_CONF_D], 'containers.conf')
  const present = which(host, 'podman') !== undefined || files.length > 0
  let hooksDirs = [...PODMAN_DEFAULT_HOOKS_DIRS]
  const runtimes: Record<string, { paths: string[]; source?: string }> = { runsc: { paths: DEFAULT_RUNSC } }
  const view: EngineView = { engine: 'podman', present, extensionStages: ['precreate'], runscs: [], problems: [] }
  for (const f of files) {
    if ('why' in f) {
      view.problems.push(configProblem('podman', f.why, f.file))
      continue
    }
    const engine: Table = tableAt(f.table, 'engine') ?? {}
    const dirs = engine.hooks_dir
    if (Array.isArray(dirs)) {
      const append = dirs.length > 0 && isTable(dirs[dirs.length - 1]) && (dirs[dirs.length - 1] as Table).append === true
      const named = dirs.filter((d): d is string => typeof d === 'string')
      hooksDirs = append ? [...hooksDirs, ...named] : named
    }
    for (const [name, paths] of Object.entries(tableAt(engine, 'runtimes') ?? {})) {
      const list = stringList(paths)
      if (list) runtimes[name] = { paths: list, source: f.file }
    }
  }
  view.hooksDirs = hooksDirs
  if (!present) return view
  for (const [name, { paths, source }] of Object.entries(runtimes)) {
    if (name !== 'runsc' && !paths.some(p => basename(p) === 'runsc')) continue
    const binary = paths.find(p => isExecutableFile(host, p))
    if (binary === undefined && source === undefined) continue
    const use: RunscUse = { engine: 'podman', name, wanted: paths.join(' or '), flags: {}, ...(binary === undefined ? {} : { binary }), ...(source === undefined ? {} : { source }) }
    view.runscs.push(use)
  }
  return view
}

