import { basename } from 'node:path'
import { isExecutableFile, which, type Host } from './doctor-finding'
import { configProblem, type EngineView, type RunscUse } from './engine'
import { applySettings, hooksDirSetting, type ConfSource } from './containers-conf'
import { readConfigs, stringList, tableAt, type Table } from './engine-toml'
import { HookError } from './errors'
import { CONTAINERS_CONF_D, CONTAINERS_CONF_FILES, PODMAN_DEFAULT_HOOKS_DIRS } from './host-layout'

/** containers/common's built-in `[engine.runtimes] runsc` list: the first that exists is used. */
const DEFAULT_RUNSC = ['/usr/bin/runsc', '/usr/sbin/runsc', '/usr/local/bin/runsc', '/usr/local/sbin/runsc', '/bin/runsc', '/sbin/runsc', '/run/current-system/sw/bin/runsc']

/**
 * podman's effective settings (containers.conf(5)): the files of
 * host-layout.ts's CONTAINERS_CONF_FILES then CONTAINERS_CONF_D's `*.conf`,
 * later overriding earlier. `[engine] hooks_dir` replaces the list, or
 * appends when the array ends with `{append=true}` (podman 5); unset, it is
 * PODMAN_DEFAULT_HOOKS_DIRS (containers-conf.ts, which install reads too; a
 * hooks_dir of another shape is a file podman refuses). `[engine.runtimes]` entries replace the
 * built-in list of the same name; each runsc (named runsc, or a list of
 * paths ending in /runsc) resolves to its first existing path, with the
 * flags of `[engine.runtimes_flags]` (`name=value`, no leading `--`). It counts
 * as configured where containers.conf names it or `[engine] runtime` picks it.
 */
export const podmanView = (host: Host): EngineView => {
  const files = readConfigs(host, CONTAINERS_CONF_FILES, [CONTAINERS_CONF_D], 'containers.conf')
  const present = which(host, 'podman') !== undefined || files.length > 0
  const settings: ConfSource[] = []
  let defaultRuntime: string | undefined
  const runtimeFlags: Record<string, { flags: Record<string, string>; file: string }> = {}
  const runtimes: Record<string, { paths: string[]; source?: string }> = { runsc: { paths: DEFAULT_RUNSC } }
  const view: EngineView = { engine: 'podman', present, extensionStages: ['precreate'], runscs: [], problems: [] }
  for (const f of files) {
    if ('why' in f) {
      view.problems.push(configProblem('podman', f.why, f.file))
      continue
    }
    try {
      settings.push({ file: f.file, setting: hooksDirSetting(f.table, f.file) })
    } catch (er) {
      /* c8 ignore next -- hooksDirSetting throws only HookErrors */
      if (!(er instanceof HookError)) throw er
      view.problems.push(configProblem('podman', er.message, f.file))
    }
    const engine: Table = tableAt(f.table, 'engine') ?? {}
    if (typeof engine.runtime === 'string') defaultRuntime = engine.runtime
    for (const [name, paths] of Object.entries(tableAt(engine, 'runtimes') ?? {})) {
      const list = stringList(paths)
      if (list) runtimes[name] = { paths: list, source: f.file }
    }
    for (const [name, list] of Object.entries(tableAt(engine, 'runtimes_flags') ?? {})) {
      const items = stringList(list)
      if (items) runtimeFlags[name] = { flags: Object.fromEntries(items.map(flagEntry)), file: f.file }
    }
  }
  // One definition of podman's effective list, shared with install (containers-conf.ts).
  view.hooksDirs = applySettings(PODMAN_DEFAULT_HOOKS_DIRS, settings)
  if (!present) return view
  for (const [name, { paths, source }] of Object.entries(runtimes)) {
    if (name !== 'runsc' && !paths.some(p => basename(p) === 'runsc')) continue
    const binary = paths.find(p => isExecutableFile(host, p))
    if (binary === undefined && source === undefined && defaultRuntime !== name) continue
    const configured = source !== undefined || defaultRuntime === name
    const flags = runtimeFlags[name]
    const use: RunscUse = {
      engine: 'podman',
      name,
      wanted: paths.join(' or '),
      flags: flags?.flags ?? {},
      configured,
      ...(binary === undefined ? {} : { binary }),
      ...(source === undefined ? {} : { source }),
      ...(flags === undefined ? {} : { flagsFile: flags.file }),
    }
    view.runscs.push(use)
  }
  return view
}


/** One runtimes_flags item: `log-format=json` -> [log-format, json]; a bare flag is `true`. */
const flagEntry = (item: string): [string, string] => {
  const bare = item.replace(/^-+/, '')
  const eq = bare.indexOf('=')
  return eq < 0 ? [bare, 'true'] : [bare.slice(0, eq), bare.slice(eq + 1)]
}
