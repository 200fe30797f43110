import { isAbsolute } from 'node:path'
import { HookError } from './errors'

/** The fields of the OCI runtime state (runtime-spec runtime.md) that the hook uses. */
export interface OciState {
  id: string
  status: string
  bundle: string
  /** Container init pid: host pid (prestart/createRuntime), 1 (runc), 0 (crun), -1 (runsc gofer). */
  pid?: number
  /** crun's non-standard rootfs path. */
  root?: string
}

const STATUSES = new Set(['creating', 'created', 'running', 'stopped'])

const fail = (origin: string, msg: string): never => {
  throw new HookError(`invalid OCI state from ${origin}: ${msg}`)
}

const requireString = (obj: Record<string, unknown>, key: string, origin: string): string => {
  const v = obj[key]
  if (v === undefined) return fail(origin, `missing "${key}"`)
  if (typeof v !== 'string') return fail(origin, `"${key}" must be a string, got ${typeOf(v)}`)
  if (v === '') return fail(origin, `"${key}" is empty`)
  if (v.includes('\0')) return fail(origin, `"${key}" contains a NUL byte`)
  return v
}

const typeOf = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v)

/** Parses and validates the state a runtime passes on a hook's stdin. */
export const parseState = (text: string, origin: string): OciState => {
  if (text.trim() === '') return fail(origin, 'empty input (expected the container state as JSON)')
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (er) {
    return fail(origin, `not JSON (${(er as Error).message})`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return fail(origin, `expected a JSON object, got ${typeOf(raw)}`)
  }
  const obj = raw as Record<string, unknown>
  const id = requireString(obj, 'id', origin)
  const status = requireString(obj, 'status', origin)
  if (!STATUSES.has(status)) fail(origin, `"status" must be one of ${[...STATUSES].join(', ')}, got ${JSON.stringify(status)}`)
  const bundle = requireString(obj, 'bundle', origin)
  if (!isAbsolute(bundle)) fail(origin, `"bundle" must be an absolute path, got ${JSON.stringify(bundle)}`)
  const state: OciState = { id, status, bundle }
  if (obj.pid !== undefined) {
    if (typeof obj.pid !== 'number' || !Number.isSafeInteger(obj.pid)) {
      fail(origin, `"pid" must be an integer, got ${typeOf(obj.pid)}`)
    }
    state.pid = obj.pid as number
  }
  if (obj.root !== undefined) state.root = requireString(obj, 'root', origin)
  return state
}
