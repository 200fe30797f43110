import { basename } from 'node:path'
import { parse } from 'yaml'
import { describeChanges, parseSpec, type ListChange } from './cdi-spec'
import { at, count, isExecutableFile, readText, type Finding, type Host } from './doctor-finding'
import { HookError } from './errors'
import { DEFAULT_SPEC_DIRS } from './host-layout'
import { DEFAULT_BINARY, isDisableDeviceNodeModification, isOurHook, NAME } from './registration'
import type { RunscHooks } from './runsc-release'
import { specFiles } from './spec-files'

/** A CDI spec as doctor weighs it. */
export interface SpecView {
  file: string
  /** Why it cannot be read or parsed (CDI refuses it too). */
  problem?: string
  /** What `cdi patch` would change, per hooks list. */
  changes: ListChange[]
  /** The file names NVIDIA's disable-device-node-modification runs under, in lists that lack our entry. */
  ddnmForms: string[]
  /** The paths our entries run. */
  ourPaths: string[]
  /** Host paths of its mounts that runsc's gofer cannot serve (sockets and the MPS pipe directory). */
  sockets: string[]
}

/**
 * Mounts of NVIDIA's IPC discoverer (toolkit discover/ipc: the persistenced
 * and fabricmanager sockets, the MPS pipe directory /tmp/nvidia-mps): the
 * gofer fails them (ENXIO) and the user sees only "EOF" (toolkit #2034,
 * gVisor PR #14214; nvidia.md "Around the hook under runsc").
 */
const SOCKET_MOUNT = /\/nvidia-persistenced\/socket$|\/nvidia-fabricmanager\/socket$|^\/tmp\/nvidia-mps(\/|$)/

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** The containerEdits of a spec and of each device (parseSpec has checked that both are mappings). */
const editsOf = (spec: Record<string, unknown>): Record<string, unknown>[] => {
  const devices = (Array.isArray(spec.devices) ? spec.devices : []) as Record<string, unknown>[]
  return [spec.containerEdits, ...devices.map(d => d.containerEdits)].filter(isObject)
}

const listOf = (edits: Record<string, unknown>, key: string): unknown[] => (Array.isArray(edits[key]) ? (edits[key] as unknown[]) : [])

const emptyView = (file: string) => ({ file, changes: [], ddnmForms: [], ourPaths: [], sockets: [] })

/** A spec directory that cannot be resolved inside the host root (a link loop), named with hostPath's reason. */
const unresolvedDirs = (host: Host): SpecView[] =>
  DEFAULT_SPEC_DIRS.flatMap(dir => {
    try {
      at(host, dir)
      return []
    } catch (er) {
      /* c8 ignore next -- hostPath throws only HookErrors */
      if (!(er instanceof HookError)) throw er
      return [{ ...emptyView(dir), problem: er.message }]
    }
  })

/**
 * Each spec in /etc/cdi and /var/run/cdi (host paths, resolved inside the
 * host root), read and weighed; a directory that cannot be resolved is
 * named as a spec that cannot be read.
 */
export const readSpecs = (host: Host): SpecView[] => [
  ...unresolvedDirs(host),
  ...specFiles(host).map((file): SpecView => {
    const empty = emptyView(file)
    const text = readText(host, file, 'CDI spec')
    if ('why' in text) return { ...empty, problem: text.why }
    let changes: ListChange[]
    try {
      changes = parseSpec(text.text, file).patch({})
    } catch (er) {
      if (!(er instanceof HookError)) throw er
      return { ...empty, problem: er.message }
    }
    // parseSpec has checked the shape; yaml reads JSON too.
    const edits = editsOf(parse(text.text) as Record<string, unknown>)
    const ourPaths = edits.flatMap(e => listOf(e, 'hooks').filter(isOurHook).map(h => String((h as { path: unknown }).path)))
    const sockets = edits.flatMap(e => listOf(e, 'mounts').map(m => (isObject(m) && typeof m.hostPath === 'string' ? m.hostPath : '')).filter(p => SOCKET_MOUNT.test(p)))
    const ddnmForms = changes
      .filter(c => c.ops.some(o => o.op === 'insert'))
      .flatMap(c => c.hooks.filter(isDisableDeviceNodeModification).map(h => basename(String((h as { path: unknown }).path))))
    return { file, changes, ddnmForms: [...new Set(ddnmForms)], ourPaths, sockets: [...new Set(sockets)] }
  }),
]

/** Our entry in one spec, for one runsc: what it needs from us. */
export type EntryState = 'needed' | 'present' | 'unsafe' | 'broken' | 'not needed'

/**
 * Whether a runsc that does `hooks` needs our entry in front of the spec's
 * NVIDIA hooks: not where it skips CDI createContainer hooks, nor where it
 * skips the only form of disable-device-node-modification the spec holds
 * (`nvidia-cdi-hook`, release-20260601.0+).
 */
export const entryState = (host: Host, spec: SpecView, hooks: RunscHooks): EntryState => {
  const ops = spec.changes.flatMap(c => c.ops)
  if (ops.some(o => o.op === 'replace')) return 'unsafe'
  if (ops.some(o => o.op === 'insert')) {
    if (hooks === 'skips') return 'not needed'
    if (hooks === 'runs-but-nvidia-cdi-hook' && spec.ddnmForms.every(f => f === 'nvidia-cdi-hook')) return 'not needed'
    return 'needed'
  }
  if (spec.ourPaths.some(p => !isExecutableFile(host, p))) return 'broken'
  return spec.ourPaths.length ? 'present' : 'not needed'
}

export const patchFix = (binary: string, file: string) => `${NAME} cdi patch${binary === DEFAULT_BINARY ? '' : ` --binary ${binary}`} ${file}`

/**
 * The generation-side fix for socket mounts (NVIDIA's `disable-ipc-discoverer`
 * feature flag): the device plugin's spec is regenerated by the plugin
 * (`CDI_FEATURE_FLAGS`), any other by nvidia-ctk; then patched again.
 */
export const socketFix = (binary: string, file: string) =>
  basename(file).startsWith('k8s.device-plugin.nvidia.com-')
    ? `set CDI_FEATURE_FLAGS=disable-ipc-discoverer in the NVIDIA device plugin's environment and restart it (it rewrites ${file}), then ${patchFix(binary, file)}`
    : `nvidia-ctk cdi generate --feature-flag=disable-ipc-discoverer --output=${file} && ${patchFix(binary, file)}`

/**
 * Each CDI spec as `cdi check` sees it (registration.ts planHooksList),
 * weighed against every runsc the engines use (`runscs`): an entry of ours
 * with a missing or unsafe env always FAILs (it lets the image's code run
 * in the hook); a missing entry FAILs where any of them runs NVIDIA's hook
 * in the gofer, is only noted where each skips it (the `nvidia-cdi-hook`
 * form under release-20260601.0+, runtimes.md), and warns where there is
 * no runsc yet or every one skips CDI hooks. Then: does our entry run a
 * binary that exists? Mounts runsc cannot serve FAIL where a runsc is used.
 */
export const cdiCheck = (host: Host, binary: string, specs: SpecView[], runscs: RunscHooks[]): Finding[] => {
  if (!specs.length) {
    return [
      {
        check: 'cdi',
        status: 'warn',
        summary: `no CDI specs in ${DEFAULT_SPEC_DIRS.join(' or ')}: no GPU can be requested by CDI name`,
        fix: `nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml && ${patchFix(binary, '/etc/cdi/nvidia.yaml')}`,
      },
    ]
  }
  return specs.flatMap(spec => [entryFinding(host, binary, spec, runscs), ...socketFinding(binary, spec, runscs)])
}

const entryFinding = (host: Host, binary: string, spec: SpecView, runscs: RunscHooks[]): Finding => {
  const { file, changes } = spec
  if (spec.problem !== undefined) return { check: 'cdi', status: 'fail', summary: spec.problem, fix: `fix or remove ${file}` }
  const ops = changes.flatMap(c => c.ops)
  if (ops.some(o => o.op === 'replace')) {
    return { check: 'cdi', status: 'fail', summary: `${file}: ${describeChanges(changes)}: the image's environment could run code in the hook`, fix: patchFix(binary, file) }
  }
  if (ops.some(o => o.op === 'insert')) {
    const needed = runscs.some(h => entryState(host, spec, h) === 'needed')
    const skipped = !needed && runscs.includes('runs-but-nvidia-cdi-hook')
    return {
      check: 'cdi',
      status: skipped ? 'info' : needed ? 'fail' : 'warn',
      summary: `${file}: NVIDIA hooks run without ${NAME} in front (${count(changes.length, 'hooks list')})${
        skipped ? "; not needed with this runsc, which skips NVIDIA's nvidia-cdi-hook form, the only one here (patching does no harm)"
        : needed ? ''
        : '; harmless until runsc runs CDI createContainer hooks'
      }`,
      fix: patchFix(binary, file),
    }
  }
  if (ops.length) {
    return { check: 'cdi', status: 'warn', summary: `${file}: ${describeChanges(changes)} (the hook starts for nothing)`, fix: patchFix(binary, file) }
  }
  if (!spec.ourPaths.length) return { check: 'cdi', status: 'info', summary: `${file}: no NVIDIA hooks` }
  const missing = spec.ourPaths.find(p => !isExecutableFile(host, p))
  if (missing !== undefined) {
    return {
      check: 'cdi',
      status: 'fail',
      summary: `${file}: patched, but its entry runs ${missing}, which is not an executable file: every container given this device fails`,
      fix: `${NAME} cdi revert ${file} && ${patchFix(binary, file)}`,
    }
  }
  return { check: 'cdi', status: 'ok', summary: `${file}: patched (${spec.ourPaths[0]})` }
}

const socketFinding = (binary: string, spec: SpecView, runscs: RunscHooks[]): Finding[] => {
  if (!spec.sockets.length) return []
  const used = runscs.length > 0
  return [
    {
      check: 'cdi',
      status: used ? 'fail' : 'warn',
      summary: `${spec.file}: mounts ${spec.sockets.join(', ')}, which runsc's gofer cannot serve: ${
        used ? 'every GPU pod given this device fails under runsc (it says only "EOF")' : 'harmless under runc and crun; GPU pods given this device would fail under runsc'
      }`,
      fix: socketFix(binary, spec.file),
    },
  ]
}
