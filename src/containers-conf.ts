import { join } from 'node:path'
import { isTable, readConfigs, tableAt, type Table } from './engine-toml'
import { HookError } from './errors'
import { CONTAINERS_CONF_D, CONTAINERS_CONF_FILES, PODMAN_DEFAULT_HOOKS_DIRS } from './host-layout'

/** One file's `[engine] hooks_dir`: its directories, and whether podman 5 appends them (`{append=true}`). */
export interface HooksDirSetting {
  dirs: string[]
  append: boolean
}

/**
 * The `[engine] hooks_dir` of one parsed containers.conf, or undefined when
 * it does not set it. containers/common (>= 0.57, podman 5) reads an array
 * of strings whose `{append = true}` table makes it append; podman 4 reads
 * strings only. Throws HookError naming `file` for any other shape: better
 * no drop-in than one built on a misread list.
 */
export const hooksDirSetting = (table: Table, file: string): HooksDirSetting | undefined => {
  const value = tableAt(table, 'engine')?.hooks_dir
  if (value === undefined) return undefined
  if (!Array.isArray(value)) throw new HookError(`${file}: [engine] hooks_dir is not an array`)
  const setting: HooksDirSetting = { dirs: [], append: false }
  for (const v of value) {
    if (typeof v === 'string') setting.dirs.push(v)
    else if (isTable(v) && Object.keys(v).length === 1 && typeof v.append === 'boolean') setting.append = v.append
    else throw new HookError(`${file}: [engine] hooks_dir holds ${JSON.stringify(v)}, neither a directory nor {append = true}`)
  }
  return setting
}

/** One containers.conf file as podman reads it (a host path), and what it sets hooks_dir to. */
export interface ConfSource {
  file: string
  setting?: HooksDirSetting
}

/**
 * podman's effective hooks_dir for root on the host under `root`: the
 * default, then each containers.conf in containers/common's order
 * (CONTAINERS_CONF_FILES, then CONTAINERS_CONF_D's *.conf by name; read
 * with engine-toml.ts, as doctor reads them), each setting replacing the
 * list or, with `{append=true}`, appending to it. `except` (a drop-in's host
 * path) is left out, as if absent. Returns the list and the sources read.
 * Throws HookError, naming the file under `root`, for a file that cannot be
 * read or parsed (podman fails on it too) or a hooks_dir of another shape.
 */
export const podmanHooksDirs = (root: string, except?: string): { dirs: string[]; sources: ConfSource[] } => {
  const sources = readConfigs({ root }, CONTAINERS_CONF_FILES, [CONTAINERS_CONF_D], 'containers.conf')
    .filter(f => f.file !== except)
    .map((f): ConfSource => {
      if ('why' in f) throw new HookError(f.why)
      return { file: f.file, setting: hooksDirSetting(f.table, join(root, f.file)) }
    })
  return { dirs: applySettings(PODMAN_DEFAULT_HOOKS_DIRS, sources), sources }
}

/** The list after each source's setting in turn (replace, or append with `{append=true}`). */
export const applySettings = (start: string[], sources: ConfSource[]): string[] =>
  sources.reduce((dirs, s) => (s.setting === undefined ? dirs : s.setting.append ? [...dirs, ...s.setting.dirs] : [...s.setting.dirs]), [...start])
