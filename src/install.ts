import {
  closeSync,
  constants,
  copyFileSync,
  fchmodSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmdirSync,
  rmSync,
  statSync,
  writeFileSync,
  type Stats,
} from 'node:fs'
import { basename, dirname, isAbsolute, join } from 'node:path'
import { replaceFile } from './atomic-write'
import { parseSpec, type SpecDoc } from './cdi-spec'
import { applySettings, podmanHooksDirs } from './containers-conf'
import { errorCode, errorText, HookError, UsageError } from './errors'
import type { HookIO } from './hook'
import {
  CONTAINERS_CONF_D,
  CRIO_HOOKS_FILE,
  DEFAULT_SPEC_DIRS,
  LEGACY_PRECREATE_FILE,
  MANIFEST,
  PODMAN_DROP_IN,
  PODMAN_HOOKS_FILE_NAME,
  podmanHooksDirFor,
} from './host-layout'
import { hostPath, hostRootFrom } from './host-root'
import { specFiles } from './spec-files'
import { parseArgs } from './parse-args'
import { DEFAULT_BINARY, HOOK_ENV, NAME, ourHook } from './registration'

export const DEFAULT_PREFIX = '/usr/local'

/** Where `install --hooks-d` puts podman's precreate file for `prefix`. */
export const precreateFileFor = (prefix: string) => `${podmanHooksDirFor(prefix)}/${PODMAN_HOOKS_FILE_NAME}`

export const INSTALL_USAGE = `Usage: nvidia-procfs-hook install [--prefix DIR] [--cdi] [--hooks-d] [--host-root DIR] [--json]
       nvidia-procfs-hook uninstall [--host-root DIR] [--json]

install copies this executable to PREFIX/bin/${NAME} and records every
file it writes in ${MANIFEST}; uninstall undoes exactly
that. Each file is written beside its place and renamed into it, so an
interrupted run leaves each file old or new: run it again to finish. Files
it did not write are never replaced. One line per file changed.

Options:
  --prefix DIR      install: where bin/${NAME} goes (default ${DEFAULT_PREFIX})
  --hooks-d         install: also register through hooks.d, running the
                    installed binary: for podman, a precreate file in
                    ${precreateFileFor('PREFIX')}
                    and ${PODMAN_DROP_IN}
                    setting podman's hooks_dir to the one in effect plus that
                    directory (CRI-O and the NRI hook-injector refuse the
                    precreate stage: they must never read it); for CRI-O, a
                    createContainer file, ${CRIO_HOOKS_FILE}
  --cdi             install: also patch the CDI specs in ${DEFAULT_SPEC_DIRS.join(' and ')}
                    to run the installed binary first (cdi patch --binary)
  --host-root DIR   act on the host whose / is mounted at DIR (a pod's /host)
  --json            one JSON object: {changed: [{action, path}], binary}
Exit: 0 done, 1 failed, 2 usage.
`

/** What install wrote, as host paths: what uninstall removes or reverts. */
export interface Manifest {
  files: string[]
  dirs: string[]
  specs: string[]
}

/** The hooks.d file for podman's precreate stage, running `binary` (hooks.d/nvidia-procfs-hook.json for /usr/bin). */
export const hooksFileFor = (binary: string): string =>
  `${JSON.stringify(
    {
      version: '1.0.0',
      hook: { path: binary, args: [NAME, 'precreate', ...(binary === DEFAULT_BINARY ? [] : ['--binary', binary])], env: [...HOOK_ENV] },
      when: { always: true },
      stages: ['precreate'],
    },
    null,
    2,
  )}\n`

/**
 * What the CRI-O file's `when` matches: kubelet's annotation on every
 * container it creates (kubernetes pkg/kubelet/kuberuntime/labels.go,
 * newContainerAnnotations), which CRI-O passes to the hooks.d matcher with
 * the pod's (server/container_create.go). podman never sets it, so podman,
 * which reads the same directory and would run this entry after NVIDIA's
 * CDI hooks, does not start the binary for it. Nothing CRI-O passes there
 * singles out GPU or runsc containers (README "hooks.d").
 */
export const CRIO_WHEN = { annotations: { '^io\\.kubernetes\\.container\\.hash$': '.*' } }

/**
 * The hooks.d file for CRI-O: our createContainer entry, running `binary`
 * (hooks.d/nvidia-procfs-hook-createcontainer.json for /usr/bin). CRI-O adds
 * hooks.d hooks before it injects CDI edits, so this runs before NVIDIA's.
 */
export const crioHooksFileFor = (binary: string): string =>
  `${JSON.stringify({ version: '1.0.0', hook: ourHook({ binary }), when: CRIO_WHEN, stages: ['createContainer'] }, null, 2)}\n`

/** The containers.conf drop-in naming `dirs` as podman's hooks_dir: a plain array, which podman 4 and 5 both read. */
export const dropInFor = (dirs: string[]): string =>
  `# Written by \`${NAME} install --hooks-d\` (recorded in ${MANIFEST};
# \`${NAME} uninstall\` removes it): podman's hooks_dir as it was then, plus
# the directory of ${NAME}'s precreate file, which only podman may read
# (CRI-O and the NRI hook-injector refuse the precreate stage). This file
# replaces hooks_dir as set before it: after changing hooks_dir elsewhere,
# run install --hooks-d again.
[engine]
hooks_dir = [${dirs.map(d => JSON.stringify(d)).join(', ')}]
`

interface Change {
  action: string
  path: string
  /** patched: how many hooks lists got our entry. */
  lists?: number
}

const strings = (v: unknown) => (Array.isArray(v) ? v.filter((s): s is string => typeof s === 'string') : [])

const readManifest = (file: string): Manifest => {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (er) {
    if (errorCode(er) === 'ENOENT') return { files: [], dirs: [], specs: [] }
    throw new HookError(`cannot read ${file}: ${errorText(er)}`)
  }
  try {
    const m = JSON.parse(text) as Record<string, unknown>
    return { files: strings(m.files), dirs: strings(m.dirs), specs: strings(m.specs) }
  } catch {
    throw new HookError(`${file} is not JSON; it lists what install wrote: repair it or remove what it names by hand`)
  }
}

/** Same bytes? Read in chunks: the executable is over 100 MB. */
const sameContent = (a: string, b: string): boolean => {
  if (statSync(a).size !== statSync(b).size) return false
  const fa = openSync(a, constants.O_RDONLY)
  const fb = openSync(b, constants.O_RDONLY)
  try {
    const ba = Buffer.alloc(1 << 20)
    const bb = Buffer.alloc(1 << 20)
    for (;;) {
      const n = readSync(fa, ba, 0, ba.length, null)
      if (n === 0) return true
      readSync(fb, bb, 0, n, null)
      if (!ba.subarray(0, n).equals(bb.subarray(0, n))) return false
    }
  } finally {
    closeSync(fa)
    closeSync(fb)
  }
}

const fsyncDir = (dir: string) => {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY)
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** Temp files of `path` left by a run that was killed (its pid is gone): they are ours to remove. */
const removeStaleTemps = (path: string) => {
  const pattern = new RegExp(`^\\.${basename(path).replace(/\./g, '\\.')}\\.(\\d+)\\.tmp$`)
  let names: string[]
  try {
    names = readdirSync(dirname(path))
  } catch {
    // Nothing to clean in a directory we cannot list; what follows reports why.
    return
  }
  for (const name of names) {
    const pid = Number(pattern.exec(name)?.[1])
    if (!pid || isRunning(pid)) continue
    rmSync(join(dirname(path), name), { force: true })
  }
}

const isRunning = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (er) {
    return errorCode(er) !== 'ESRCH'
  }
}

/**
 * Puts a file in place whole: `fill` writes a temp file beside it, which
 * gets `mode`, is fsynced and renamed over `path`.
 */
const writeAtomically = (path: string, mode: number, fill: (tmp: string) => void) => {
  removeStaleTemps(path)
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`)
  try {
    fill(tmp)
    const fd = openSync(tmp, constants.O_RDONLY | constants.O_NOFOLLOW)
    try {
      fchmodSync(fd, mode)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, path)
  } catch (er) {
    rmSync(tmp, { force: true })
    throw new HookError(`cannot write ${path}: ${errorText(er)}`)
  }
  fsyncDir(dirname(path))
}

const writeManifest = (file: string, m: Manifest) =>
  writeAtomically(file, 0o644, tmp => writeFileSync(tmp, `${JSON.stringify(m, null, 2)}\n`, { flag: 'wx' }))

/** The directories above `dir` (a host path) that do not exist yet, outermost first. */
const missingDirs = (at: (p: string) => string, dir: string): string[] => {
  const out: string[] = []
  for (let d = dir; d !== '/' && statSync(at(d), { throwIfNoEntry: false }) === undefined; d = dirname(d)) out.unshift(d)
  return out
}

const union = (a: string[], b: string[]) => [...new Set([...a, ...b])]

/** The executable to copy: this one, or, under Node, the one `npm run build` made beside dist/cli.js. */
const sourceExecutable = (self: string[]): string => {
  const [exec, script] = self
  if (script === undefined) return exec as string
  const built = join(dirname(realpathSync(script)), NAME)
  if (!statSync(built, { throwIfNoEntry: false })?.isFile()) {
    throw new HookError(
      `install: this is ${NAME} running under Node, and ${built} (the single executable to install) does not exist; run \`npm run build\` first, or run install from the executable`,
    )
  }
  return built
}

interface FilePlan {
  path: string
  action: string
  mode: number
  /** Whether the file in place already has this content. */
  same: () => boolean
  /** What to do when a file install did not write is in the way. */
  instead: string
  fill: (tmp: string) => void
}

interface SpecPlan {
  path: string
  real: string
  before: Stats
  doc: SpecDoc
  lists: number
}

const report = (io: HookIO, json: boolean, changes: Change[], extra: Record<string, unknown>, none: string) => {
  if (json) io.out(JSON.stringify({ changed: changes, ...extra }))
  else if (!changes.length) io.out(none)
  else for (const c of changes) io.out(`${c.action} ${c.path}${c.lists === undefined ? '' : ` (${c.lists} hooks list${c.lists === 1 ? '' : 's'})`}`)
}

/**
 * The drop-in's text that adds `dir` to podman's effective hooks_dir, or
 * undefined when podman already reads `dir` without one of ours. The list
 * kept is the one in effect without our drop-in (containers-conf.ts), so
 * every directory the operator configured stays. Throws HookError when a
 * drop-in read after ours sets hooks_dir without `dir`: ours would change
 * nothing there.
 */
const podmanDropIn = (root: string, dir: string, manifest: Manifest): string | undefined => {
  const { dirs, sources } = podmanHooksDirs(root, PODMAN_DROP_IN)
  if (dirs.includes(dir) && !manifest.files.includes(PODMAN_DROP_IN)) return undefined
  const text = dropInFor([...dirs.filter(d => d !== dir), dir])
  const after = sources.filter(s => s.file.startsWith(`${CONTAINERS_CONF_D}/`) && s.file > PODMAN_DROP_IN)
  const masking = applySettings([dir], after).includes(dir) ? undefined : after.filter(s => s.setting !== undefined && !s.setting.append).pop()
  if (masking) throw new HookError(`install: ${join(root, masking.file)} sets podman's hooks_dir after ${PODMAN_DROP_IN} would: add ${dir} to it there, and leave out --hooks-d`)
  return text
}

export const installCommand = (argv: string[], io: HookIO): number => {
  const flags = parseArgs(argv, { string: ['prefix', 'host-root'], boolean: ['cdi', 'hooks-d', 'json'] }, 'install')
  if (flags.help) {
    io.out(INSTALL_USAGE)
    return 0
  }
  if (flags._.length) throw new UsageError(`install: unexpected argument ${JSON.stringify(flags._[0])}`)
  const prefix = (flags.prefix as string | undefined) ?? DEFAULT_PREFIX
  if (!isAbsolute(prefix)) throw new UsageError('install: --prefix must be an absolute path')
  const root = hostRootFrom(flags, 'install')
  const at = (p: string) => hostPath(root, p)
  /** A spec as its host names it, for messages (`at` may have followed links). */
  const shown = (p: string) => join(root, p)
  const source = sourceExecutable(io.self)
  const binary = join(prefix, 'bin', NAME)
  const manifest = readManifest(at(MANIFEST))

  const files: FilePlan[] = [
    {
      path: binary,
      action: 'installed',
      mode: 0o755,
      same: () => sameContent(source, at(binary)),
      instead: 'remove it or choose another --prefix',
      fill: tmp => copyFileSync(source, tmp, constants.COPYFILE_EXCL),
    },
  ]
  const textFile = (path: string, text: string, instead: string): FilePlan => ({
    path,
    action: 'wrote',
    mode: 0o644,
    same: () => readFileSync(at(path), 'utf8') === text,
    instead,
    fill: tmp => writeFileSync(tmp, text, { flag: 'wx' }),
  })
  if (flags['hooks-d']) {
    const packaged = `if the package put it there, it registers the hook already: leave out --hooks-d (with the package, \`install --prefix /usr --hooks-d\` adds only podman's drop-in)`
    files.push(textFile(precreateFileFor(prefix), hooksFileFor(binary), packaged), textFile(CRIO_HOOKS_FILE, crioHooksFileFor(binary), packaged))
    const dropIn = podmanDropIn(root, podmanHooksDirFor(prefix), manifest)
    if (dropIn !== undefined) files.push(textFile(PODMAN_DROP_IN, dropIn, `it is not ours: add ${podmanHooksDirFor(prefix)} to hooks_dir yourself, and leave out --hooks-d`))
  }
  const toWrite = files.filter(f => {
    if (statSync(at(f.path), { throwIfNoEntry: false }) === undefined) return true
    if (f.same()) return false
    if (!manifest.files.includes(f.path)) {
      throw new HookError(`install: ${at(f.path)} exists and was not written by install (a package's? see dpkg -S ${f.path}); ${f.instead}`)
    }
    return true
  })

  let failed = false
  const specs: SpecPlan[] = []
  if (flags.cdi) {
    for (const path of specFiles({ root })) {
      try {
        const real = realpathSync(at(path))
        const before = statSync(real)
        const doc = parseSpec(readFileSync(real, 'utf8'), shown(path))
        const lists = doc.patch({ binary }).length
        if (lists) specs.push({ path, real, before, doc, lists })
      } catch (er) {
        failed = true
        io.err(`nvidia-procfs-hook: error: install: ${er instanceof HookError ? er.message : `${shown(path)}: ${errorText(er)}`}`)
      }
    }
  }

  // The manifest first: an interrupted run must leave uninstall knowing every file it may have written.
  const dirs = [...new Set([dirname(MANIFEST), ...toWrite.map(f => dirname(f.path))].flatMap(d => missingDirs(at, d)))]
  const next: Manifest = {
    files: union(manifest.files, toWrite.map(f => f.path)),
    dirs: union(manifest.dirs, dirs),
    specs: union(manifest.specs, specs.map(s => s.path)),
  }
  const changes: Change[] = []
  // 0.1.0's install --hooks-d put the precreate file where CRI-O reads it (and refuses it): ours, so it goes.
  if (next.files.includes(LEGACY_PRECREATE_FILE)) {
    next.files = next.files.filter(f => f !== LEGACY_PRECREATE_FILE)
    if (statSync(at(LEGACY_PRECREATE_FILE), { throwIfNoEntry: false }) !== undefined) {
      rmSync(at(LEGACY_PRECREATE_FILE))
      changes.push({ action: 'removed', path: at(LEGACY_PRECREATE_FILE) })
    }
  }
  for (const d of dirs) mkdirSync(at(d), { mode: 0o755 })
  if (JSON.stringify(next) !== JSON.stringify(manifest)) {
    writeManifest(at(MANIFEST), next)
    changes.push({ action: 'recorded', path: at(MANIFEST) })
  }
  for (const f of toWrite) {
    writeAtomically(at(f.path), f.mode, f.fill)
    changes.push({ action: f.action, path: at(f.path) })
  }
  for (const s of specs) {
    try {
      replaceFile(s.real, s.doc.toString(), s.before)
      changes.push({ action: 'patched', path: shown(s.path), lists: s.lists })
    } catch (er) {
      if (!(er instanceof HookError)) throw er
      failed = true
      io.err(`nvidia-procfs-hook: error: install: ${er.message}`)
    }
  }
  report(io, flags.json, changes, { binary }, `${at(binary)} is installed; nothing to change`)
  return failed ? 1 : 0
}

export const uninstallCommand = (argv: string[], io: HookIO): number => {
  const flags = parseArgs(argv, { string: ['host-root'], boolean: ['json'] }, 'uninstall')
  if (flags.help) {
    io.out(INSTALL_USAGE)
    return 0
  }
  if (flags._.length) throw new UsageError(`uninstall: unexpected argument ${JSON.stringify(flags._[0])}`)
  const root = hostRootFrom(flags, 'uninstall')
  const at = (p: string) => hostPath(root, p)
  const shown = (p: string) => join(root, p)
  if (statSync(at(MANIFEST), { throwIfNoEntry: false }) === undefined) {
    report(io, flags.json, [], {}, `nothing to uninstall: ${at(MANIFEST)} does not exist`)
    return 0
  }
  const manifest = readManifest(at(MANIFEST))
  const changes: Change[] = []
  // Specs first: none may be left running a binary that is gone.
  for (const path of manifest.specs) {
    if (statSync(at(path), { throwIfNoEntry: false }) === undefined) continue
    const real = realpathSync(at(path))
    const before = statSync(real)
    const doc = parseSpec(readFileSync(real, 'utf8'), shown(path))
    if (!doc.revert()) continue
    replaceFile(real, doc.toString(), before)
    changes.push({ action: 'reverted', path: shown(path) })
  }
  for (const path of [...manifest.files].reverse()) {
    removeStaleTemps(at(path))
    if (statSync(at(path), { throwIfNoEntry: false }) === undefined) continue
    rmSync(at(path))
    changes.push({ action: 'removed', path: at(path) })
  }
  removeStaleTemps(at(MANIFEST))
  rmSync(at(MANIFEST))
  changes.push({ action: 'removed', path: at(MANIFEST) })
  for (const dir of [...manifest.dirs].reverse()) {
    try {
      rmdirSync(at(dir))
    } catch (er) {
      // Someone else's files are in it now, or it is already gone: leave it.
      if (!['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes(errorCode(er) as string)) throw er
    }
  }
  report(io, flags.json, changes, {}, '')
  return 0
}
