import { at, versionOf, which, type Finding, type Host } from './doctor-finding'

/** runc and crun: found, and what they do with this hook (nothing: they mount /proc before createContainer hooks). */
export const runtimesCheck = (host: Host): Finding[] =>
  ['runc', 'crun'].map((name): Finding => {
    const path = which(host, name)
    if (path === undefined) return { check: name, status: 'info', summary: 'not found' }
    const v = versionOf(at(host, path))
    if ('why' in v) return { check: name, status: 'warn', summary: `${path} --version failed: ${v.why}` }
    return { check: name, status: 'ok', summary: `${path}: ${v.line}; mounts /proc before createContainer hooks run: nothing for this hook to do` }
  })
