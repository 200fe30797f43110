import { at, versionOf, which, type Finding, type Host } from './doctor-finding'
import { errorText } from './errors'
import { libc } from './libc'
import { LIBMOUNT_DIRS, mountApi, type MountApi } from './mount'

/** The tools the hook may run (src/mount.ts, src/hook.ts): usrmerged hosts have them in /usr/bin, older ones in /bin. */
const UTIL_LINUX = ['mount', 'umount', 'nsenter', 'flock']

const API_TEXT: Record<MountApi, string> = {
  'fd-based': 'fd-based mount API: the bind is attached read-only, no remount',
  classic: 'classic mount(2): bind, then remount read-only through a fresh fd',
}

/**
 * util-linux as the hook uses it. Where this Node has node:ffi (the
 * executable) the hook mounts, unmounts and locks by itself, following the
 * API of the host's libmount (read from the library, as the hook reads it),
 * and runs only nsenter, for the prestart and createRuntime registrations;
 * elsewhere (the npm package under Node < 26) it runs all four tools, and
 * mount(8)'s own API applies. `inProcess` says which; tests set it.
 */
export const utilLinuxCheck = (host: Host, inProcess = libc() !== undefined): Finding => {
  const found = UTIL_LINUX.map(tool => [tool, which(host, tool, ['/usr/bin', '/bin'])] as const)
  const needed = inProcess ? ['nsenter'] : UTIL_LINUX
  const missing = found.filter(([tool, p]) => p === undefined && needed.includes(tool)).map(([tool]) => tool)
  if (missing.length) {
    return {
      check: 'util-linux',
      status: 'fail',
      summary: `missing from /usr/bin and /bin: ${missing.join(', ')}; ${inProcess ? 'the hook runs nsenter to act in a container\'s mount namespace (prestart, createRuntime)' : 'the hook runs them to mount'}`,
      fix: 'apt-get install mount util-linux   # dnf install util-linux',
    }
  }
  const where = found.flatMap(([, p]) => (p === undefined ? [] : [p])).join(', ')
  const mount = found[0]?.[1]
  const v = mount === undefined ? { why: 'not found' } : versionOf(at(host, mount))
  const release = 'line' in v ? `util-linux ${/util-linux (\S+)/.exec(v.line)?.[1] ?? 'of unknown version'}` : 'util-linux'
  if (inProcess) {
    let api: MountApi
    try {
      api = mountApi(LIBMOUNT_DIRS.map(dir => at(host, dir)))
    } catch (er) {
      return { check: 'util-linux', status: 'warn', summary: `cannot tell which mount API the host's libmount uses: ${errorText(er)} (${where})` }
    }
    return { check: 'util-linux', status: 'ok', summary: `${release}, ${API_TEXT[api]}, made by the hook itself (node:ffi); it runs nsenter only (${where})` }
  }
  if ('why' in v) return { check: 'util-linux', status: 'warn', summary: `${mount} --version failed: ${v.why}; cannot tell which mount API it uses (${where})` }
  return { check: 'util-linux', status: 'ok', summary: `${release}, ${API_TEXT[/\bfd-based-mount\b/.test(v.line) ? 'fd-based' : 'classic']} (${where})` }
}
