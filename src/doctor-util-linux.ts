import { at, versionOf, which, type Finding, type Host } from './doctor-finding'

/** What the hook runs (src/mount.ts): usrmerged hosts have them in /usr/bin, older ones in /bin. */
const UTIL_LINUX = ['mount', 'umount', 'nsenter', 'flock']

export const utilLinuxCheck = (host: Host): Finding => {
  const found = UTIL_LINUX.map(tool => [tool, which(host, tool, ['/usr/bin', '/bin'])] as const)
  const missing = found.filter(([, p]) => p === undefined).map(([tool]) => tool)
  if (missing.length) {
    return {
      check: 'util-linux',
      status: 'fail',
      summary: `missing from /usr/bin and /bin: ${missing.join(', ')}; the hook runs them to mount`,
      fix: 'apt-get install mount util-linux   # dnf install util-linux',
    }
  }
  const mount = found[0]?.[1] as string
  const v = versionOf(at(host, mount))
  const where = found.map(([, p]) => p).join(', ')
  if ('why' in v) return { check: 'util-linux', status: 'warn', summary: `${mount} --version failed: ${v.why}; cannot tell which mount API it uses (${where})` }
  const release = /util-linux (\S+)/.exec(v.line)?.[1] ?? 'of unknown version'
  const api = /\bfd-based-mount\b/.test(v.line)
    ? 'fd-based mount API: the bind is attached read-only, no remount'
    : 'classic mount(2): bind, then remount read-only through a fresh fd'
  return { check: 'util-linux', status: 'ok', summary: `util-linux ${release}, ${api} (${where})` }
}
