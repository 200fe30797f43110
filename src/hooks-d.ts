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

/** `text` as a JSON object; throws HookError naming `file` (`consequence` follows a parse error). */
const jsonObject = (text: string, file: string, consequence = ''): Record<string, unknown> => {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (er) {
    throw new HookError(`${file}: not JSON (${(er as Error).message})${consequence}`)
  }
  if (!isObject(raw)) throw new HookError(`${file}: expected a JSON object`)
  return raw
}

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
  const raw = jsonObject(text, file, '; podman fails every container on this')
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

/** The OCI runtime-spec stages that containers/common's loader knows; engines add their extension stages (podman: `precreate`). */
export const OCI_STAGES = ['prestart', 'createRuntime', 'createContainer', 'startContainer', 'poststart', 'poststop']

/** A hooks.d file as containers/common `pkg/hooks` loads it, 1.0.0 or 0.1.0 (normalised to 1.0.0's shape). */
export interface LoadedHook {
  version: '1.0.0' | '0.1.0'
  hook: { path: string; args?: string[]; env?: string[]; timeout?: number }
  stages: string[]
}

/**
 * Loads a hooks.d file by the rules of containers/common `pkg/hooks`
 * (read.go, 1.0.0/hook.go, 0.1.0/hook.go), as an engine calling it with
 * `extensionStages` does: podman passes `precreate`, CRI-O and containerd's
 * NRI hook-injector pass none (runtimes.md). `version` "1.0.0", or "0.1.0"
 * / absent for the old schema (`hook`, `arguments`, `stage(s)`, `cmd(s)`,
 * `annotation(s)`, `hasbindmounts`, as oci-umount and oci-systemd-hook
 * ship). Throws HookError with the loader's reason (an engine refuses the
 * whole directory on it). Does not check that `hook.path` exists: the
 * loader skips such a hook silently.
 */
export const loadHooksFile = (text: string, file: string, extensionStages: readonly string[]): LoadedHook => {
  const fail = (msg: string): never => {
    throw new HookError(`${file}: ${msg}`)
  }
  const raw = jsonObject(text, file)
  const optional = (v: unknown, ok: (v: unknown) => boolean, field: string) => {
    if (v !== undefined && v !== null && !ok(v)) fail(`"${field}" has the wrong type`)
  }
  const regexes = (res: string[], field: string) => {
    for (const re of res) {
      try {
        new RegExp(re)
      } catch {
        fail(`"${field}" is not a valid regular expression: ${JSON.stringify(re)}`)
      }
    }
  }
  let loaded: LoadedHook
  if (raw.version === '1.0.0') {
    const { hook, when, stages } = raw
    optional(hook, isObject, 'hook')
    const h = isObject(hook) ? hook : {}
    optional(h.path, v => typeof v === 'string', 'hook.path')
    optional(h.args, isStringArray, 'hook.args')
    optional(h.env, isStringArray, 'hook.env')
    optional(h.timeout, v => Number.isSafeInteger(v), 'hook.timeout')
    optional(when, isObject, 'when')
    const w = isObject(when) ? when : {}
    optional(w.always, v => typeof v === 'boolean', 'when.always')
    optional(w.hasBindMounts, v => typeof v === 'boolean', 'when.hasBindMounts')
    optional(w.commands, isStringArray, 'when.commands')
    optional(w.annotations, v => isObject(v) && Object.values(v).every(s => typeof s === 'string'), 'when.annotations')
    optional(stages, isStringArray, 'stages')
    if (typeof h.path !== 'string' || h.path === '') return fail('missing required property: hook.path')
    if (isObject(w.annotations)) regexes([...Object.keys(w.annotations), ...(Object.values(w.annotations) as string[])], 'when.annotations')
    if (isStringArray(w.commands)) regexes(w.commands, 'when.commands')
    if (!isStringArray(stages)) return fail('missing required property: stages')
    loaded = { version: '1.0.0', hook: h as LoadedHook['hook'], stages }
  } else if (raw.version === '0.1.0' || raw.version === undefined || raw.version === '') {
    const pick = (plural: string, singular: string): string[] | undefined => {
      const [a, b] = [raw[plural], raw[singular]]
      optional(a, isStringArray, plural)
      optional(b, isStringArray, singular)
      if (isStringArray(a) && isStringArray(b)) fail(`cannot set both '${singular}' and '${plural}'`)
      return isStringArray(a) ? a : isStringArray(b) ? b : undefined
    }
    optional(raw.hook, v => typeof v === 'string', 'hook')
    optional(raw.arguments, isStringArray, 'arguments')
    optional(raw.hasbindmounts, v => typeof v === 'boolean', 'hasbindmounts')
    if (typeof raw.hook !== 'string') return fail('missing required property: hook')
    const stages = pick('stages', 'stage')
    if (stages === undefined) return fail('missing required property: stages')
    const cmds = pick('cmds', 'cmd') ?? []
    regexes(cmds, 'cmds')
    regexes([(pick('annotations', 'annotation') ?? []).join('|')], 'annotations')
    const args = isStringArray(raw.arguments) ? { args: [raw.hook, ...raw.arguments] } : {}
    loaded = { version: '0.1.0', hook: { path: raw.hook, ...args }, stages }
  } else {
    return fail(`unrecognized hook version: ${JSON.stringify(raw.version)}`)
  }
  if (loaded.hook.path === '') fail('missing required property: hook.path')
  for (const s of loaded.stages) {
    if (!OCI_STAGES.includes(s) && !extensionStages.includes(s)) fail(`unknown stage ${JSON.stringify(s)}`)
  }
  return loaded
}
