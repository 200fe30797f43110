import { isAbsolute } from 'node:path'
import { HookError } from './errors'

/**
 * An oci-hooks(5) 1.0.0 file as podman and CRI-O read it from hooks.d
 * (containers/common pkg/hooks; runtimes.md).
 */
export interface HooksFile {
  version: '1.0.0'
  hook: { path: string; args?: string[]; env?: string[]; timeout?: number }
  when: { always?: boolean; annotations?: Record<string, string>; commands?: string[]; hasBindMounts?: boolean }
  stages: string[]
}

/** The OCI stages, plus podman's extension `precreate`. */
export const HOOKS_D_STAGES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop', 'precreate']

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

const isStringArray = (v: unknown): v is string[] => Array.isArray(v) && v.every(s => typeof s === 'string')

/**
 * Parses and checks a hooks.d file; throws naming the file and field. Stricter
 * than podman where podman is silent: a `when` with no condition matches no
 * container, and a hook with no `env` inherits the caller's.
 * Regexes are checked with JavaScript's engine, close to Go's RE2 for the
 * patterns hooks use.
 */
export const parseHooksFile = (text: string, file: string): HooksFile => {
  const fail = (msg: string): never => {
    throw new HookError(`${file}: ${msg}`)
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (er) {
    return fail(`not JSON (${(er as Error).message}); podman fails every container on this`)
  }
  if (!isObject(raw)) return fail('expected a JSON object')
  if (raw.version !== '1.0.0') fail(`"version" must be "1.0.0", got ${JSON.stringify(raw.version)}`)
  const { hook, when, stages } = raw
  if (!isObject(hook)) return fail('"hook" must be an object')
  if (typeof hook.path !== 'string' || !isAbsolute(hook.path)) fail('"hook.path" must be an absolute path')
  if (hook.args !== undefined && !isStringArray(hook.args)) fail('"hook.args" must be a list of strings')
  if (!isStringArray(hook.env) || hook.env.some(kv => !/^[^=]+=/.test(kv))) {
    fail('"hook.env" must be a list of NAME=value strings (explicit, or the hook inherits its caller\'s environment)')
  }
  if (hook.timeout !== undefined && !(Number.isSafeInteger(hook.timeout) && (hook.timeout as number) > 0)) {
    fail('"hook.timeout" must be a positive integer (seconds)')
  }
  if (!isObject(when)) return fail('"when" must be an object')
  const conditions = ['always', 'annotations', 'commands', 'hasBindMounts'].filter(k => when[k] !== undefined)
  if (!conditions.length) fail('"when" has no condition, so it matches no container')
  for (const k of ['always', 'hasBindMounts']) {
    if (when[k] !== undefined && typeof when[k] !== 'boolean') fail(`"when.${k}" must be true or false`)
  }
  const regex = (field: string, re: string) => {
    try {
      new RegExp(re)
    } catch {
      fail(`"${field}" is not a valid regular expression: ${JSON.stringify(re)}`)
    }
  }
  if (when.annotations !== undefined) {
    if (!isObject(when.annotations)) return fail('"when.annotations" must be an object of regular expressions')
    for (const [k, v] of Object.entries(when.annotations)) {
      regex('when.annotations', k)
      if (typeof v !== 'string') fail(`"when.annotations" value for ${JSON.stringify(k)} must be a string`)
      regex(`when.annotations[${JSON.stringify(k)}]`, v as string)
    }
  }
  if (when.commands !== undefined) {
    if (!isStringArray(when.commands)) return fail('"when.commands" must be a list of regular expressions')
    for (const c of when.commands) regex('when.commands', c)
  }
  if (!isStringArray(stages) || !stages.length) return fail('"stages" must be a non-empty list of stage names')
  for (const s of stages) {
    if (!HOOKS_D_STAGES.includes(s)) fail(`unknown stage ${JSON.stringify(s)} in "stages"; podman fails every container on this`)
  }
  return raw as unknown as HooksFile
}
