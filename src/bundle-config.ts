import { isAbsolute, join } from 'node:path'
import { HookError } from './errors'
import { readFileBounded } from './read-bounded'

/**
 * The rootfs of a bundle: config.json `root.path`, joined to the bundle when
 * relative (runtime-spec config.md). The bundle is the runtime's and trusted.
 */
export const rootfsFromBundle = (bundle: string): string => {
  const file = join(bundle, 'config.json')
  const text = readFileBounded(file, 'bundle config')
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (er) {
    throw new HookError(`${file}: not JSON (${(er as Error).message})`)
  }
  const root = (raw as { root?: unknown } | null)?.root
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new HookError(`${file}: expected a JSON object`)
  }
  if (root === undefined) throw new HookError(`${file}: missing "root"`)
  const path = (root as { path?: unknown } | null)?.path
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw new HookError(`${file}: "root.path" must be a non-empty string`)
  }
  return isAbsolute(path) ? path : join(bundle, path)
}
