import { readText, type Finding, type Host } from './doctor-finding'
import { NAME } from './registration'

/** CAP_SYS_ADMIN is bit 21 of CapEff in /proc/self/status. */
export const capabilityCheck = (host: Host): Finding => {
  const status = readText(host, '/proc/self/status', 'process status')
  const capEff = 'text' in status ? /^CapEff:\s*([0-9a-f]+)$/m.exec(status.text)?.[1] : undefined
  if (capEff !== undefined && (BigInt(`0x${capEff}`) >> 21n) & 1n) {
    return { check: 'privilege', status: 'ok', summary: 'CAP_SYS_ADMIN: yes (the hook mounts, as runtimes run it)' }
  }
  return {
    check: 'privilege',
    status: 'fail',
    summary: `CAP_SYS_ADMIN: ${capEff === undefined ? `unknown (${'why' in status ? status.why : 'no CapEff line'})` : 'no'}; the hook mounts and runs as root under the runtime, and so must doctor to see what it sees`,
    fix: `sudo ${NAME} doctor`,
  }
}
