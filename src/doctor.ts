import { version } from '../package.json'
import { binaryCheck } from './doctor-binary'
import { cdiCheck, readSpecs } from './doctor-cdi'
import { driverCheck, driverLoaded, driverVersion } from './doctor-driver'
import { isExecutableFile, type Finding, type Host } from './doctor-finding'
import { hooksDCheck } from './doctor-hooks-d'
import { capabilityCheck } from './doctor-privilege'
import { gpuPodsVerdict, pathRunsc, runscFacts, runscFinding, type ProbeResult, type RunscFacts } from './doctor-runsc'
import { probeHookPhase } from './doctor-runsc-probe'
import { runtimesCheck } from './doctor-runtimes'
import { selfTestCheck } from './doctor-self-test'
import { systemdCheck } from './doctor-systemd'
import { utilLinuxCheck } from './doctor-util-linux'
import { containerdView } from './engine-containerd'
import { crioView } from './engine-crio'
import { podmanView } from './engine-podman'
import { UsageError } from './errors'
import type { HookIO } from './hook'
import { hostRootFrom } from './host-root'
import { parseArgs } from './parse-args'
import { NAME, ourHook } from './registration'
import type { RunscHooks } from './runsc-release'

export const DOCTOR_USAGE = `Usage: nvidia-procfs-hook doctor [--json] [--host-root DIR]

Says whether GPU pods will start under gVisor on this host, and what to fix.
For every runsc the engines are configured to use (containerd's runtime
handlers and its shim's runsc.toml, podman's containers.conf, CRI-O's
crio.conf and crio.conf.d, then PATH), one verdict: GPU pods start or fail,
with each reason and the command that fixes it: whether that runsc runs CDI
hooks in the gofer (read from its own code), whether its nvproxy supports
the loaded driver (runsc nvproxy list-supported-drivers; flags the engine
passes count), whether each CDI spec needs our entry, holds it, or mounts
sockets runsc cannot serve, and, as root on this host, a self-test: a
sandbox that runsc creates, with our entry in front of a probe that opens
<rootfs>/proc/driver/nvidia/params (nothing is left behind). Also: the
NVIDIA driver, CAP_SYS_ADMIN, util-linux and a self-test of the mount path,
runc and crun, the CDI specs in /etc/cdi and /var/run/cdi, whether systemd
keeps them patched, every hooks.d file as each engine that reads it loads
it, and the installed binary. Not run with --host-root: the self-tests.

Options:
  --json            one JSON object: {ready, version, hostRoot, findings}
                    (a finding's data holds the verdict as data)
  --host-root DIR   examine the host whose / is mounted at DIR
Exit: 0 ready, 1 not ready, 2 usage.
`

export interface Verdict {
  ready: boolean
  findings: Finding[]
}

/**
 * Where the hook-phase self-test cannot run, why (it runs each runsc here,
 * as root, with a driver loaded and a binary of ours to put in front);
 * undefined where it can. `euid`: this process's.
 */
export const probeBlocked = (host: Host, loaded: boolean, hookBinary: string | undefined, euid = process.geteuid?.()): string | undefined =>
  host.root !== '/' ? 'it runs runsc on this machine, and --host-root examines another'
  : euid !== 0 ? 'it creates a sandbox with runsc, which needs root'
  : !loaded ? 'no NVIDIA driver loaded: nothing for the hook to bind'
  : hookBinary === undefined ? `no ${NAME} binary to put in front`
  : undefined

/**
 * Every check, in the order an operator reads them: this node, then each
 * runsc the engines use (containerd's handlers, podman's and CRI-O's
 * runtimes, then PATH) with one verdict for GPU pods under it, then the
 * specs, hooks.d and the installed binary. `self` runs this program again
 * (HookIO.self): the mount self-test, and the hook-phase self-test's entry
 * where no binary is installed; without it neither runs.
 */
export const doctor = (host: Host, self?: string[]): Verdict => {
  const installed = binaryCheck(host)
  const engines = [containerdView(host), podmanView(host), crioView(host)]
  const engineUses = engines.flatMap(e => e.runscs)
  const uses = [...engineUses, ...pathRunsc(host, engineUses)]
  const facts = new Map<string, RunscFacts>()
  for (const u of uses) if (u.binary !== undefined && !facts.has(u.binary)) facts.set(u.binary, runscFacts(host, u.binary))
  const specs = readSpecs(host)
  const loaded = driverLoaded(host)
  const driver = driverVersion(host)
  const hookBinary = isExecutableFile(host, installed.binary) ? installed.binary : self?.length === 1 ? self[0] : undefined
  const blocked = probeBlocked(host, loaded, hookBinary)
  const probes = new Map<string, ProbeResult>()
  // What a self-test showed a runsc does outweighs what its binary says.
  const shown = new Map<string, RunscHooks>()
  const verdicts = uses.map(u => {
    const f = u.binary === undefined ? undefined : facts.get(u.binary)
    let probe: ProbeResult | undefined
    if (f !== undefined && blocked === undefined) {
      const key = JSON.stringify([f.binary, u.flags])
      probe = probes.get(key) ?? probeHookPhase(f.binary, u.flags, ourHook({ binary: hookBinary as string }))
      probes.set(key, probe)
      if (probe.hooks !== undefined) shown.set(f.binary, probe.hooks)
    }
    return gpuPodsVerdict(host, u, f, { driver, driverLoaded: loaded, specs, binary: installed.binary, ...(probe === undefined ? {} : { probe }) })
  })
  const hooks = [...facts.values()].map(f => shown.get(f.binary) ?? f.hooks)
  const findings: Finding[] = [
    driverCheck(host),
    capabilityCheck(host),
    utilLinuxCheck(host),
    selfTestCheck(host, self),
    ...(facts.size ? [...facts.values()].map(runscFinding) : [{ check: 'runsc', status: 'info' as const, summary: 'not found' }]),
    ...runtimesCheck(host),
    ...engines.flatMap(e => e.problems),
    ...verdicts,
    ...(uses.length && blocked !== undefined && host.root === '/' ? [{ check: 'hook-phase', status: 'info' as const, summary: `self-test with each runsc not run: ${blocked}` }] : []),
    ...cdiCheck(host, installed.binary, specs, hooks),
    systemdCheck(host),
    ...hooksDCheck(host, engines),
    installed.finding,
  ]
  return { ready: !findings.some(f => f.status === 'fail'), findings }
}

const LABEL = { ok: 'ok  ', info: 'info', warn: 'WARN', fail: 'FAIL' } as const

/** One screen: a line per finding, its fix under it, the verdict last. */
export const renderVerdict = ({ ready, findings }: Verdict, root: string): string => {
  const lines = [`nvidia-procfs-hook ${version} doctor${root === '/' ? '' : ` (host root ${root})`}`]
  for (const f of findings) {
    lines.push(`${LABEL[f.status]}  ${f.check.padEnd(10)} ${f.summary}`)
    if (f.fix !== undefined && f.status !== 'ok') lines.push(`${' '.repeat(17)}fix: ${f.fix}`)
  }
  const count = (status: Finding['status'], word: string) => {
    const n = findings.filter(f => f.status === status).length
    return n ? [`${n} ${word}${n === 1 ? '' : 's'}`] : []
  }
  const tally = [...count('fail', 'problem'), ...count('warn', 'warning')].join(', ')
  lines.push(ready ? `READY${tally ? ` (${tally})` : ''}` : `NOT READY: ${tally}. Run each fix as root, then doctor again.`)
  return lines.join('\n')
}

export const doctorCommand = (argv: string[], io: HookIO): number => {
  const flags = parseArgs(argv, { string: ['host-root'], boolean: ['json'] }, 'doctor')
  if (flags.help) {
    io.out(DOCTOR_USAGE)
    return 0
  }
  if (flags._.length) throw new UsageError(`doctor: unexpected argument ${JSON.stringify(flags._[0])}`)
  const root = hostRootFrom(flags, 'doctor')
  const verdict = doctor({ root }, io.self)
  io.out(flags.json ? JSON.stringify({ ready: verdict.ready, version, hostRoot: root, findings: verdict.findings }) : renderVerdict(verdict, root))
  return verdict.ready ? 0 : 1
}
