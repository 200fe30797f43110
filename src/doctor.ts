import { version } from '../package.json'
import {
  binaryCheck,
  capabilityCheck,
  cdiCheck,
  driverCheck,
  hooksDCheck,
  runtimesCheck,
  selfTestCheck,
  systemdCheck,
  utilLinuxCheck,
  type Finding,
  type Host,
} from './doctor-checks'
import { UsageError } from './errors'
import type { HookIO } from './hook'
import { hostRootFrom } from './host-root'
import { parseArgs } from './parse-args'

export const DOCTOR_USAGE = `Usage: nvidia-procfs-hook doctor [--json] [--host-root DIR]

Says whether this host is ready to start GPU containers under gVisor with
this hook, and what to fix: the NVIDIA driver, CAP_SYS_ADMIN, util-linux
and its mount API, a self-test of the real mount path (on a
scratch rootfs, in a private mount namespace; not with --host-root), the
runtimes (runsc, runc, crun) and what their versions do with CDI hooks,
the CDI specs in /etc/cdi and /var/run/cdi, whether systemd keeps them
patched (the watcher unit active), the hooks.d files, and the installed
binary. Each problem comes with the command that fixes it.

Options:
  --json            one JSON object: {ready, version, hostRoot, findings}
  --host-root DIR   examine the host whose / is mounted at DIR
Exit: 0 ready, 1 not ready, 2 usage.
`

export interface Verdict {
  ready: boolean
  findings: Finding[]
}

/** `self` runs this program again (HookIO.self), for the mount self-test; without it the test is not run. */
export const doctor = (host: Host, self?: string[]): Verdict => {
  const installed = binaryCheck(host)
  const runtimes = runtimesCheck(host)
  const findings = [
    driverCheck(host),
    capabilityCheck(host),
    utilLinuxCheck(host),
    selfTestCheck(host, self),
    ...runtimes.findings,
    ...cdiCheck(host, installed.binary, runtimes.runsc),
    systemdCheck(host),
    ...hooksDCheck(host, installed.binary),
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
