import { readFileSync } from 'node:fs'
import { entryState, patchFix, socketFix, type EntryState, type SpecView } from './doctor-cdi'
import { at, runTool, versionOf, which, type Finding, type Host, type Status } from './doctor-finding'
import type { RunscUse } from './engine'
import { errorCode } from './errors'
import { NAME } from './registration'
import { hooksFromBinary, RUNSC_SAYS, type RunscHooks } from './runsc-release'

/** What one runsc binary says about itself. */
export interface RunscFacts {
  binary: string
  /** `runsc --version`'s first line, or why there is none. */
  version: { line: string } | { why: string }
  hooks: RunscHooks
  /** Where `hooks` comes from: the binary's own code, or its version line (a hook-phase self-test, where run, outweighs both: gpuPodsVerdict). */
  hooksFrom: 'binary' | 'version'
  /** `runsc nvproxy list-supported-drivers`, or why there is none. */
  drivers: { list: string[] } | { why: string }
  /** Its top-level flag names (`runsc flags`); undefined when it would not say. */
  flagNames?: Set<string>
}

export const RUNSC_TIMEOUT_MS = 5000

/**
 * Asks a runsc (host path) for its version, the driver versions its
 * nvproxy supports and its flags, and reads its code for the hook runner
 * (runsc-release.ts). Runs it three times, each bounded by RUNSC_TIMEOUT_MS.
 */
export const runscFacts = (host: Host, binary: string): RunscFacts => {
  const file = at(host, binary)
  const version = versionOf(file)
  let code: Buffer | undefined
  /* c8 ignore start -- root reads any file: only doctor without root meets a runsc it may run but not read (mode 0711) */
  try {
    code = readFileSync(file)
  } catch (er) {
    if (errorCode(er) !== 'EACCES') throw er
  }
  /* c8 ignore stop */
  const line = 'line' in version ? version.line : undefined
  // Unreadable: the version line is all there is (an empty binary holds no hook runner).
  /* c8 ignore next -- as above */
  const hooks = hooksFromBinary(code ?? Buffer.alloc(0), line)
  const listed = runTool(file, ['nvproxy', 'list-supported-drivers'], RUNSC_TIMEOUT_MS)
  const list = 'why' in listed ? [] : listed.stdout.split('\n').map(l => l.trim()).filter(l => /^\d+\.\d+(\.\d+)?$/.test(l))
  const flags = runTool(file, ['flags'], RUNSC_TIMEOUT_MS)
  const flagNames = 'why' in flags ? undefined : new Set([...`${flags.stdout}\n${flags.stderr}`.matchAll(/^ {2}-([a-z0-9][a-z0-9-]*)/gm)].map(m => m[1] as string))
  return {
    binary,
    version,
    hooks,
    /* c8 ignore next -- as above */
    hooksFrom: code === undefined ? 'version' : 'binary',
    drivers: list.length ? { list } : { why: 'why' in listed ? listed.why : 'it lists no driver version' },
    ...(flagNames === undefined || flagNames.size === 0 ? {} : { flagNames }),
  }
}

/** The runsc on PATH that no engine names, as a use of its own. */
export const pathRunsc = (host: Host, uses: RunscUse[]): RunscUse[] => {
  const binary = which(host, 'runsc')
  if (binary === undefined || uses.some(u => u.binary === binary)) return []
  return [{ engine: 'PATH', name: 'runsc', wanted: 'runsc', binary, flags: {}, configured: false }]
}

/** One line of facts per distinct runsc binary: what it is and what it does with CDI hooks. */
export const runscFinding = (facts: RunscFacts): Finding => {
  const { binary, version, hooks } = facts
  if ('why' in version) {
    return { check: 'runsc', status: 'warn', summary: `${binary} --version failed: ${version.why}${hooks === 'unknown' ? '' : `; its code ${RUNSC_SAYS[hooks]}`}`, data: factsData(facts) }
  }
  const drivers =
    'list' in facts.drivers ? `; nvproxy supports ${facts.drivers.list.length} driver versions (${facts.drivers.list[0]} … ${facts.drivers.list.at(-1)})`
    : facts.flagNames !== undefined && !facts.flagNames.has('nvproxy') ? '; no nvproxy (no GPU support)'
    : ''
  return { check: 'runsc', status: hooks === 'unknown' ? 'warn' : 'ok', summary: `${binary}: ${version.line}; ${RUNSC_SAYS[hooks]}${drivers}`, data: factsData(facts) }
}

const factsData = (f: RunscFacts) => ({
  binary: f.binary,
  version: 'line' in f.version ? f.version.line : null,
  hooks: f.hooks,
  hooksFrom: f.hooksFrom,
  supportedDrivers: 'list' in f.drivers ? f.drivers.list : null,
})

/** What the hook-phase self-test found with one runsc (doctor-runsc-probe.ts). */
export interface ProbeResult {
  pass: boolean
  /** One line: what ran, or the gofer's own error. */
  said: string
  /** What the run showed the runsc does with CDI createContainer hooks, when it showed it. */
  hooks?: RunscHooks
}

/** A part of a verdict: a reason, its weight, and the command that fixes it. */
interface Reason {
  status: Status
  text: string
  fix?: string
}

const worst = (reasons: Reason[]): Status =>
  reasons.some(r => r.status === 'fail') ? 'fail' : reasons.some(r => r.status === 'warn') ? 'warn' : 'ok'

const isTrue = (v: string | undefined) => v !== undefined && /^(true|1|yes)$/i.test(v)

/**
 * Whether the runsc's nvproxy serves the loaded driver (`driver`, from
 * /proc/driver/nvidia/version; undefined: none loaded): listed by
 * `runsc nvproxy list-supported-drivers`, pinned by the engine's
 * `nvproxy-driver-version` to a listed ABI (or `latest`), or allowed by
 * `nvproxy-allow-unsupported-driver` where this runsc has that flag
 * (gVisor #12642, #12773, #14617).
 */
const driverReason = (use: RunscUse, facts: RunscFacts, driver: string | undefined, driverLoaded: boolean): Reason => {
  if (!driverLoaded) return { status: 'fail', text: 'no NVIDIA driver loaded', fix: 'modprobe nvidia   # or install the NVIDIA driver' }
  if (facts.flagNames !== undefined && !facts.flagNames.has('nvproxy')) {
    return { status: 'fail', text: 'this runsc has no nvproxy (no GPU support at all)', fix: 'install a gVisor runsc release with nvproxy (20260520 or later runs CDI hooks)' }
  }
  if (driver === undefined) return { status: 'warn', text: 'the loaded driver names no version in /proc/driver/nvidia/version: cannot tell whether nvproxy supports it' }
  if ('why' in facts.drivers) return { status: 'warn', text: `runsc nvproxy list-supported-drivers failed (${facts.drivers.why}): cannot tell whether nvproxy supports driver ${driver}` }
  const list = facts.drivers.list
  const where = use.flagsFile ?? use.source ?? 'the runtime configuration'
  const pinned = use.flags['nvproxy-driver-version']
  if (pinned !== undefined && pinned !== '') {
    if (pinned === 'latest' || list.includes(pinned)) return { status: 'ok', text: `nvproxy pinned to driver ABI ${pinned} (nvproxy-driver-version in ${where}) for driver ${driver}` }
    return { status: 'fail', text: `nvproxy-driver-version = ${pinned} in ${where} is not a version this runsc supports`, fix: `set nvproxy-driver-version to one of \`${facts.binary} nvproxy list-supported-drivers\` in ${where}, or remove it` }
  }
  if (list.includes(driver)) return { status: 'ok', text: `nvproxy supports driver ${driver}` }
  const newest = list.at(-1) as string
  if (isTrue(use.flags['nvproxy-allow-unsupported-driver']) && facts.flagNames?.has('nvproxy-allow-unsupported-driver')) {
    return { status: 'warn', text: `driver ${driver} is not in this runsc's nvproxy list (newest ${newest}); nvproxy-allow-unsupported-driver in ${where} lets it try` }
  }
  return {
    status: 'fail',
    text: `nvproxy does not support driver ${driver} (this runsc lists ${list[0]} … ${newest}): GPU sandboxes fail to start`,
    fix: `install a runsc release whose \`runsc nvproxy list-supported-drivers\` lists ${driver}, or a driver this one lists (${newest})`,
  }
}

/** Flags the engine passes that this runsc does not know: runsc refuses every container (`flag provided but not defined`). */
const flagReasons = (use: RunscUse, facts: RunscFacts): Reason[] =>
  facts.flagNames === undefined
    ? []
    : Object.keys(use.flags)
        .filter(f => !facts.flagNames?.has(f))
        .map(f => ({ status: 'fail' as const, text: `${use.flagsFile ?? 'its configuration'} passes --${f}, which this runsc does not know: it refuses every container`, fix: `remove ${f} from ${use.engine === 'podman' ? '[engine.runtimes_flags]' : '[runsc_config]'} in ${use.flagsFile}` }))

/** What a spec in a failing state says in the verdict (a present or unneeded entry says nothing). */
const SPEC_SAYS: Record<Extract<EntryState, 'needed' | 'unsafe' | 'broken'>, (file: string) => string> = {
  needed: f => `${f} needs ${NAME} in front of NVIDIA's disable-device-node-modification (the gofer fails with params ENOENT; the user sees "EOF")`,
  unsafe: f => `${f} holds an unsafe entry of ours`,
  broken: f => `${f}: our entry runs a binary that is not there`,
}

/**
 * One verdict for GPU pods under one runsc that an engine uses: start or
 * fail, each reason with the command that fixes it, from the binary's
 * facts, the loaded driver, every CDI spec (our entry needed / present /
 * unsafe / not needed under this release; mounts runsc cannot serve), and
 * the hook-phase self-test where it ran.
 */
export const gpuPodsVerdict = (
  host: Host,
  use: RunscUse,
  facts: RunscFacts | undefined,
  ctx: { driver: string | undefined; driverLoaded: boolean; specs: SpecView[]; binary: string; probe?: ProbeResult },
): Finding => {
  const label = `${use.engine} ${use.name}`
  if (facts === undefined) {
    const fix = use.wanted.startsWith('/') ? `install runsc at ${use.wanted.split(' or ')[0]}${use.source ? `, or point ${use.source} at one` : ''}` : `install runsc on containerd's PATH (/usr/local/bin/runsc)${use.source ? `, or set binary_name in ${use.flagsFile ?? use.source}` : ''}`
    return { check: 'gpu-pods', status: use.configured ? 'fail' : 'warn', summary: `${label}: runsc ${use.wanted} not found: every container under it fails`, fix, data: { engine: use.engine, name: use.name, wanted: use.wanted, binary: null, start: false } }
  }
  const hooks = ctx.probe?.hooks ?? facts.hooks
  const reasons: Reason[] = [...flagReasons(use, facts), driverReason(use, facts, ctx.driver, ctx.driverLoaded)]
  const specs: Record<string, EntryState> = {}
  for (const spec of ctx.specs) {
    if (spec.problem !== undefined) continue
    const state = entryState(host, spec, hooks)
    specs[spec.file] = state
    if (state === 'needed' || state === 'unsafe' || state === 'broken') reasons.push({ status: 'fail', text: SPEC_SAYS[state](spec.file), fix: patchFix(ctx.binary, spec.file) })
    if (spec.sockets.length) reasons.push({ status: 'fail', text: `${spec.file} mounts ${spec.sockets.join(', ')}, which the gofer cannot serve`, fix: socketFix(ctx.binary, spec.file) })
  }
  if (ctx.probe !== undefined) {
    reasons.push(ctx.probe.pass ? { status: 'ok', text: `hook-phase self-test passed (${ctx.probe.said})` } : { status: 'fail', text: `hook-phase self-test failed: ${ctx.probe.said}`, fix: `${NAME} doctor --json   # gpu-pods data.selfTest.said holds the gofer's own error; report it with the output` })
  }
  const found = worst(reasons)
  const start = found !== 'fail'
  // A runsc no engine is configured to use fails no pod today: say so, without failing the node.
  const status = found === 'fail' && !use.configured ? 'warn' : found
  const shown = reasons.filter(r => r.status !== 'ok')
  const why = (start ? reasons : shown).map(r => r.text).join('; ')
  const fixes = [...new Set(shown.flatMap(r => (r.fix === undefined ? [] : [r.fix])))]
  return {
    check: 'gpu-pods',
    status,
    summary: `${label} (${facts.binary}${use.configured ? '' : ', not configured as a runtime'}): GPU pods ${start ? 'start' : 'fail'}: ${why}`,
    ...(fixes.length ? { fix: fixes.join('; ') } : {}),
    data: {
      engine: use.engine,
      name: use.name,
      wanted: use.wanted,
      binary: facts.binary,
      flags: use.flags,
      hooks,
      driver: ctx.driver ?? null,
      specs,
      selfTest: ctx.probe === undefined ? null : { pass: ctx.probe.pass, said: ctx.probe.said },
      start,
      configured: use.configured,
    },
  }
}

