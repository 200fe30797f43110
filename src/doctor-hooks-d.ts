import { basename, dirname } from 'node:path'
import { filesIn, isExecutableFile, readText, statHost, type Finding, type Host } from './doctor-finding'
import type { EngineView } from './engine'
import { HookError } from './errors'
import { HOOKS_D_DIRS, PODMAN_DROP_IN, podmanHooksDirFor } from './host-layout'
import { loadHooksFile, parseHooksFile, type LoadedHook } from './hooks-d'
import { isOurHook, NAME } from './registration'

/** What happens to an engine that cannot load a file in a directory it reads (runtimes.md); the engines with hooks.d. */
const REFUSAL: Record<string, string> = {
  'CRI-O': 'CRI-O does not start (it returns the error at start-up; containerd\'s NRI hook-injector exits on it too)',
  podman: 'podman fails every container',
}

/**
 * Every hooks.d file in a directory an engine on the host loads (podman's
 * and CRI-O's effective hooks_dir), judged by each such engine's loader
 * (hooks-d.ts loadHooksFile: CRI-O with no extension stages, podman with
 * `precreate`): FAIL where one refuses it, naming what stops and how to move
 * it out of the way; files of ours must run a binary that exists (the
 * loader skips one that does not, silently) and pass our stricter rules;
 * a file of ours in a directory no engine reads (a precreate file in
 * /etc/containers/oci/hooks.d, which podman never reads unless
 * containers.conf says so) is a warning. Valid 1.0.0 and 0.1.0 files of
 * others are left alone.
 */
export const hooksDCheck = (host: Host, engines: EngineView[]): Finding[] => {
  const present = engines.filter(e => e.present && e.hooksDirs !== undefined)
  const dirs = [...new Set([...present.flatMap(e => e.hooksDirs as string[]), ...HOOKS_D_DIRS, podmanHooksDirFor('/usr'), podmanHooksDirFor('/usr/local')])]
  const findings: Finding[] = []
  let ours = false
  for (const file of dirs.flatMap(d => filesIn(host, d, /\.json$/))) {
    const readers = present.filter(e => {
      const list = e.hooksDirs as string[]
      const i = list.lastIndexOf(dirname(file))
      // A later directory with the same file name masks this one.
      return i >= 0 && !list.slice(i + 1).some(d => d !== dirname(file) && statHost(host, `${d}/${basename(file)}`) !== undefined)
    })
    const text = readText(host, file, 'hooks.d file')
    if ('why' in text) {
      findings.push({ check: 'hooks.d', status: readers.length ? 'fail' : 'warn', summary: text.why, fix: `fix or remove ${file}` })
      continue
    }
    let loaded: LoadedHook | undefined
    const refusals: string[] = []
    // Where no engine reads it, loaded as podman would, only to tell whether it is ours.
    const loaders = readers.length ? readers.map(e => ({ engine: e.engine, stages: e.extensionStages })) : [{ engine: undefined, stages: ['precreate'] }]
    for (const { engine, stages } of loaders) {
      try {
        loaded = loadHooksFile(text.text, file, stages)
      } catch (er) {
        /* c8 ignore next -- loadHooksFile throws only HookErrors */
        if (!(er instanceof HookError)) throw er
        if (engine !== undefined) refusals.push(`${er.message.slice(file.length + 2)}: ${REFUSAL[engine] as string}`)
      }
    }
    const mine = loaded !== undefined && isOurHook(loaded.hook)
    ours ||= mine
    if (refusals.length) {
      findings.push({
        check: 'hooks.d',
        status: 'fail',
        summary: `${file}: ${[...new Set(refusals)].join('; ')}`,
        fix:
          mine ? `rm ${file} && ${NAME} install --hooks-d   # podman's precreate file goes where only podman reads it (${PODMAN_DROP_IN})`
          : refusals.length === readers.length ? `fix or remove ${file}`
          : `mv ${file} DIR   # a directory that only the engines that load it read: ${dirname(file)} is read by ${readers.map(r => r.engine).join(' and ')}`,
      })
      continue
    }
    if (!mine || loaded === undefined) continue
    findings.push(ourFileFinding(host, file, loaded, text.text, readers, present))
  }
  if (!ours) {
    findings.push({
      check: 'hooks.d',
      status: 'info',
      summary: `no hooks.d file for ${NAME} in ${HOOKS_D_DIRS.join(' or ')}: podman relies on patched CDI specs alone`,
      fix: `${NAME} install --hooks-d`,
    })
  }
  return findings
}

const ourFileFinding = (host: Host, file: string, loaded: LoadedHook, text: string, readers: EngineView[], present: EngineView[]): Finding => {
  const route = `${file}: ${loaded.stages.join(', ')} -> ${loaded.hook.path}`
  if (!readers.length) {
    const prefix = ['/usr', '/usr/local'].find(p => podmanHooksDirFor(p) === dirname(file))
    if (prefix !== undefined) {
      // The packages' (or install's) podman directory: read once containers.conf adds it; patched specs serve podman meanwhile.
      return {
        check: 'hooks.d',
        status: 'info',
        summary: `${route}; podman reads ${dirname(file)} only once a containers.conf drop-in adds it (podman's precreate route; patched CDI specs serve podman without it)`,
        fix: `${NAME} install --prefix ${prefix} --hooks-d   # writes ${PODMAN_DROP_IN}`,
      }
    }
    const where = present.map(e => `${e.engine} reads ${(e.hooksDirs as string[]).join(', ')}`).join('; ')
    return {
      check: 'hooks.d',
      status: 'warn',
      summary: `${route}; no engine here reads ${dirname(file)}${where ? ` (${where})` : ''}: this file does nothing`,
      fix: `rm ${file} && ${NAME} install --hooks-d`,
    }
  }
  if (!isExecutableFile(host, loaded.hook.path)) {
    return {
      check: 'hooks.d',
      status: 'fail',
      summary: `${route}, which is not an executable file: podman skips the hook silently`,
      fix: `${NAME} install --hooks-d   # or remove ${file}`,
    }
  }
  try {
    parseHooksFile(text, file)
  } catch (er) {
    /* c8 ignore next -- parseHooksFile throws only HookErrors */
    if (!(er instanceof HookError)) throw er
    return { check: 'hooks.d', status: 'warn', summary: er.message, fix: `${NAME} install --hooks-d   # rewrites ${file}` }
  }
  return { check: 'hooks.d', status: 'ok', summary: `${route} (read by ${readers.map(r => r.engine).join(' and ')})` }
}
