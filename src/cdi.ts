import { accessSync, constants, readdirSync, realpathSync, statSync, type Stats } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { identity, replaceFile } from './atomic-write'
import { watchSpecs, type WatchTarget } from './cdi-watch'
import { describeChanges, parseSpec } from './cdi-spec'
import { errorCode, errorText, HookError, UsageError } from './errors'
import type { HookIO } from './hook'
import { DEFAULT_SPEC_DIRS } from './host-layout'
import { parseArgs } from './parse-args'
import { readFileBounded } from './read-bounded'
import { DEFAULT_BINARY, entryOptionsFrom, ourCdiHook } from './registration'

/** Where CDI looks for specs (SPEC.md), in its order. */

const ACTIONS = ['patch', 'check', 'revert'] as const

/** CDI loads *.json and *.yaml from its directories, not recursively; so do we. */
const SPEC_NAME = /\.(json|yaml)$/

export const CDI_USAGE = `Usage: nvidia-procfs-hook cdi patch|check|revert [options] [FILE|DIR...]

Puts a createContainer entry for this hook right before the first NVIDIA hook
in every hooks list of the CDI specs (default: ${DEFAULT_SPEC_DIRS.join(' ')}).
YAML keeps its comments and layout, JSON stays JSON; files are replaced
atomically, keeping owner and mode. Unchanged specs are not rewritten.

  patch     insert the entry where it is missing (one line per changed file)
  check     exit 1 naming each spec that needs patching
  revert    remove every entry of ours

Options:
  --watch           patch: keep running, re-patch specs that get rewritten
                    (k8s-device-plugin rewrites its spec when it restarts);
                    follows directories that do not exist yet or get
                    replaced; stops on SIGTERM or SIGINT
  --binary PATH     patch: the hook the entry runs (default ${DEFAULT_BINARY})
  --log-file FILE   patch: the entry passes --log-file FILE to the hook
Exit: 0 done, 1 a spec needs patching (check) or could not be handled, 2 usage.
`

/** Node's errors on a spec file, as one line naming it. */
const onFile = <T>(file: string, f: () => T): T => {
  try {
    return f()
  } catch (er) {
    throw new HookError(`${file}: ${errorCode(er) === 'ENOENT' ? 'does not exist' : errorText(er)}`)
  }
}

interface Target {
  path: string
  isDir: boolean
  /** Not there (yet): only the watcher looks at it. */
  absent?: boolean
}

/**
 * What the arguments name. Default directories may be absent; so may any
 * path with --watch, which waits for it: a directory, unless its name is a
 * spec's (*.json, *.yaml).
 */
const resolveTargets = (paths: string[], watching: boolean): Target[] => {
  const targets: Target[] = []
  for (const path of paths.length ? paths : DEFAULT_SPEC_DIRS) {
    let st: Stats | undefined
    try {
      st = statSync(path)
    } catch (er) {
      // ENOTDIR: a path below a file is as absent as a missing one (Node versions differ on which they report).
      if (errorCode(er) !== 'ENOENT' && errorCode(er) !== 'ENOTDIR') throw new HookError(`${path}: ${errorText(er)}`)
    }
    if (st === undefined) {
      if (paths.length && !watching) throw new HookError(`${path}: does not exist`)
      targets.push({ path, isDir: !SPEC_NAME.test(path), absent: true })
      continue
    }
    targets.push({ path, isDir: st.isDirectory() })
  }
  return targets
}

/** Spec files: each FILE, and each directory's *.json and *.yaml files and links (a broken link is reported later). */
const specFiles = (targets: Target[]): string[] =>
  targets.flatMap(({ path, isDir, absent }) => {
    if (absent) return []
    if (!isDir) return [path]
    return onFile(path, () => readdirSync(path, { withFileTypes: true }))
      .filter(e => SPEC_NAME.test(e.name) && (e.isFile() || e.isSymbolicLink()))
      .map(e => join(path, e.name))
      .sort()
  })

const count = (n: number, one: string, many: string) => `${n} ${n === 1 ? one : many}`

export const cdiCommand = (argv: string[], io: HookIO): number => {
  const flags = parseArgs(argv, { string: ['binary', 'log-file'], boolean: ['watch'] }, 'cdi')
  if (flags.help) {
    io.out(CDI_USAGE)
    return 0
  }
  const [action, ...paths] = flags._.map(String)
  if (!(ACTIONS as readonly string[]).includes(action as string)) {
    throw new UsageError(`cdi: expected patch, check or revert${action === undefined ? '' : `, got ${JSON.stringify(action)}`}; see cdi --help`)
  }
  const opts = entryOptionsFrom(flags, 'cdi')
  if (action !== 'patch' && (flags.watch || Object.keys(opts).length)) {
    throw new UsageError(`cdi: --watch, --binary and --log-file apply to patch only`)
  }
  if (action === 'patch') {
    const entry = ourCdiHook(opts)
    // A CDI hook whose path is missing fails every container that asks for the device.
    try {
      accessSync(entry.path, constants.X_OK)
      if (!statSync(entry.path).isFile()) throw new HookError('not a file')
    } catch (er) {
      throw new HookError(
        `cdi: ${entry.path} is not an executable file (${errorText(er)}); install it or pass --binary: a CDI hook whose binary is missing fails every GPU container`,
      )
    }
  }
  const targets = resolveTargets(paths, flags.watch === true)
  // What we wrote, by file: the watcher must not take our own rename for a rewrite.
  const written = new Map<string, string>()
  let failed = false
  let needsPatch = false
  const handle = (file: string) => {
    try {
      const real = onFile(file, () => realpathSync(file))
      const before = onFile(file, () => statSync(real))
      const spec = parseSpec(readFileBounded(real, 'CDI spec'), file)
      if (action === 'revert') {
        const n = spec.revert()
        if (!n) return
        written.set(file, identity(replaceFile(real, spec.toString(), before)))
        io.out(`reverted ${file} (${count(n, 'entry', 'entries')} removed)`)
        return
      }
      const changed = spec.patch(opts)
      if (!changed.length) return
      if (action === 'check') {
        needsPatch = true
        io.out(`${file}: needs patching: ${describeChanges(changed)}`)
        return
      }
      written.set(file, identity(replaceFile(real, spec.toString(), before)))
      io.out(`patched ${file} (${count(changed.length, 'hooks list', 'hooks lists')})`)
    } catch (er) {
      if (!(er instanceof HookError)) throw er
      failed = true
      io.err(`nvidia-procfs-hook: error: ${er.message}`)
    }
  }
  const firstPass = () => {
    for (const file of specFiles(targets)) handle(file)
  }
  if (flags.watch) {
    // What CDI loads from a directory; for a FILE, its name in its directory.
    const watched = targets.map(
      ({ path, isDir }): WatchTarget =>
        isDir ? { dir: path, accepts: n => SPEC_NAME.test(n), label: path } : { dir: dirname(path), accepts: n => n === basename(path), label: path },
    )
    watchSpecs(watched, written, handle, io, firstPass)
    return 0
  }
  firstPass()
  return failed || needsPatch ? 1 : 0
}
