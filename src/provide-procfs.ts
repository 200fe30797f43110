import { closeSync, constants, lstatSync, openSync, readlinkSync, statfsSync, statSync, type Stats } from 'node:fs'
import { join } from 'node:path'
import { errorCode, errorText, HookError } from './errors'
import { createDirEntry, fdPath, O_CLOEXEC, openDirEntry, openPath, openRoot, removeDirEntry, type Entry } from './in-root'
import { debugFor } from './log'
import { lockExclusive } from './lock'
import { bind, detach, mountApi, remountReadOnly, runUtil, type MountApi, type UtilRunner } from './mount'
import { missingOptions, mountIdOfFd, readMountinfo, REQUIRED_OPTIONS } from './mountinfo'
import { propagationOutside } from './propagation'

const debug = debugFor('provide')

const PROC_SUPER_MAGIC = 0x9fa0
const COMPONENTS = ['proc', 'driver', 'nvidia'] as const

export interface ProvideOptions {
  rootfs: string
  source: string
  dryRun?: boolean
  /** Only decide whether a mount is needed (used before entering another namespace). */
  inspectOnly?: boolean
  /** Whose mount table describes the rootfs: another process's when looking through /proc/PID/root. */
  mountinfoPid?: number
  /** util-linux runner; tests swap it to inject faults around the real one. */
  run?: UtilRunner
  /** Takes the rootfs lock on the fd given; tests swap it to step in around the real one. */
  lock?: (dirFd: number) => void
  /** The mount API to drive; by default the host libmount's (mountApi). */
  api?: MountApi
}

export type Outcome =
  | { action: 'mounted'; reason: string; created: string[] }
  | { action: 'repaired'; reason: string }
  | { action: 'skipped'; reason: string; warning: boolean }
  | { action: 'planned'; reason: string; plan: string[] }

const skip = (reason: string, warning = false): Outcome => ({ action: 'skipped', reason, warning })

const exists = (path: string) => {
  try {
    lstatSync(path)
    return true
  } catch (er) {
    if (errorCode(er) === 'ENOENT' || errorCode(er) === 'ENOTDIR') return false
    throw er
  }
}

/** The source directory, or undefined when no driver is loaded. */
export const statSource = (source: string): Stats | undefined => {
  let st: Stats
  try {
    st = statSync(source)
  } catch (er) {
    if (errorCode(er) === 'ENOENT') return undefined
    throw new HookError(`cannot stat source ${source}: ${errorText(er)}`)
  }
  if (!st.isDirectory()) throw new HookError(`source ${source} is not a directory`)
  return st
}

/**
 * Makes <rootfs>/proc/driver/nvidia show `source`, read-only, in the current
 * mount namespace (design.md "The hook, step by step", 4–6). Every fd it
 * opens is closed before it returns; on failure nothing it made is left.
 */
export const provideProcfs = (opts: ProvideOptions): Outcome => {
  const sourceStat = statSource(opts.source)
  if (!sourceStat) return skip(`no NVIDIA driver loaded (${opts.source} does not exist)`)
  const opened: number[] = []
  const keep = (e: Entry) => (opened.push(e.fd), e)
  try {
    const first = survey(opts, sourceStat, keep, false)
    if (first.need === 'nothing') return first.outcome
    // Two runs on one rootfs would both create and both bind: EEXIST, stacked
    // mounts, one's rollback detaching the other's mount. A flock on the rootfs
    // directory serialises them; it dies with the fd, so a killed run leaves no
    // stale lock. What the first look saw may be out of date: look again.
    const lockFd = openSync(fdPath(first.root.fd), constants.O_RDONLY | constants.O_DIRECTORY | O_CLOEXEC)
    opened.push(lockFd)
    try {
      ;(opts.lock ?? (fd => lockExclusive(opts.run ?? runUtil, fd)))(lockFd)
    } catch (er) {
      throw new HookError(`cannot lock ${opts.rootfs} against a concurrent run: ${(er as Error).message}`)
    }
    const now = survey(opts, sourceStat, keep, true)
    if (now.need === 'nothing') return now.outcome
    return now.need === 'repair' ? repair(opts, now) : mountInto(opts, sourceStat, now, keep)
  } finally {
    for (const fd of opened) closeSync(fd)
  }
}

interface Walk {
  root: Entry
  /** root, then proc, driver, nvidia as far as they exist. */
  chain: Entry[]
  rootMount: number
  shown: (i: number) => string
  /** The mounts on the rootfs's own mount when the walk looked (ids; empty before the lock is held). */
  onRoot: Set<number>
}

type Survey = { need: 'nothing'; outcome: Outcome } | ({ need: 'mount' | 'repair' } & Walk)

const nothing = (outcome: Outcome): Survey => ({ need: 'nothing', outcome })

/**
 * Walks the rootfs and decides what, if anything, has to change. The first
 * look, before the lock, stops at "a change is needed" (unless it is all a
 * dry run asks for); the look under the lock checks propagation too.
 */
const survey = (opts: ProvideOptions, sourceStat: Stats, keep: (e: Entry) => Entry, locked: boolean): Survey => {
  const { rootfs, source } = opts
  const shown = (i: number) => join(rootfs, ...COMPONENTS.slice(0, i + 1))
  const root = keep(openRoot(rootfs))
  const chain: Entry[] = [root]
  for (const [i, name] of COMPONENTS.entries()) {
    const e = openDirEntry((chain.at(-1) as Entry).fd, name, shown(i))
    if (!e) break
    keep(e)
    if (i === 0 && statfsSync(fdPath(e.fd)).type === PROC_SUPER_MAGIC) {
      return nothing(
        exists(fdPath(e.fd, 'driver/nvidia/params'))
          ? skip(`${shown(0)} is a procfs that already shows driver/nvidia`)
          : skip(`${shown(0)} is a procfs without driver/nvidia; never mounting over a procfs`, true),
      )
    }
    chain.push(e)
  }
  const rootMount = mountIdOfFd(root.fd)
  const nvidia = chain[3]
  // A mount of the source there is ours from an earlier run; it may lack the
  // read-only remount if that run was killed between bind and remount.
  const sourceMount =
    nvidia !== undefined && nvidia.stat.dev === sourceStat.dev && nvidia.stat.ino === sourceStat.ino && mountIdOfFd(nvidia.fd) !== rootMount
  if (sourceMount) {
    const entry = readMountinfo(opts.mountinfoPid).find(m => m.id === mountIdOfFd(nvidia.fd))
    const lacking = entry ? missingOptions(entry) : [...REQUIRED_OPTIONS]
    if (!lacking.length) return nothing(skip(`${shown(2)}/params already exists (a read-only bind of ${source})`))
  } else if (nvidia !== undefined && exists(fdPath(nvidia.fd, 'params'))) {
    return nothing(skip(`${shown(2)}/params already exists`))
  }

  // Directories we create, and the mount, must land on the rootfs's own
  // filesystem: a host directory bound into the image is not ours to change.
  for (const [i, e] of chain.slice(1, sourceMount ? 3 : 4).entries()) {
    if (mountIdOfFd(e.fd) !== rootMount) {
      throw new HookError(`${shown(i)} is a mount point, not part of the rootfs; refusing to create or mount there`)
    }
  }
  if (opts.inspectOnly) return nothing({ action: 'planned', reason: 'mount needed', plan: [] })
  const walk = { root, chain, rootMount, shown }
  if (!locked && !opts.dryRun) return { need: sourceMount ? 'repair' : 'mount', ...walk, onRoot: new Set() }

  // A shared rootfs mount is fine while its peers all live in this namespace
  // (gVisor's gofer with rootfsPropagation rshared); not when they reach out.
  const ours = readMountinfo()
  const rootEntry = ours.find(m => m.id === rootMount)
  const reach = rootEntry && propagationOutside(rootEntry, ours)
  if (reach !== undefined) {
    throw new HookError(`the mount holding ${rootfs} (${rootEntry?.mountPoint}) propagates to ${reach}: a mount there would appear there too; refusing`)
  }

  const plan = sourceMount
    ? [`remount the read-write bind of ${source} at ${shown(2)} read-only (ro,nosuid,nodev,noexec)`]
    : [
        ...COMPONENTS.slice(chain.length - 1).map((_, k) => `create ${shown(chain.length - 1 + k)} (mode 0555)`),
        `bind ${source} onto ${shown(2)} read-only (ro,nosuid,nodev,noexec)`,
      ]
  if (opts.dryRun) return nothing({ action: 'planned', reason: sourceMount ? 'repair needed' : 'mount needed', plan })
  return { need: sourceMount ? 'repair' : 'mount', ...walk, onRoot: new Set(ours.filter(m => m.parentId === rootMount).map(m => m.id)) }
}

/** The mountinfo line of the mount an fd (opened after the bind) is on; throws HookError when there is none. */
const entryOf = (mounted: Entry, shown = 'the directory') => {
  const mountId = mountIdOfFd(mounted.fd)
  const entry = readMountinfo().find(m => m.id === mountId)
  if (!entry) throw new HookError(`mount ${mountId} at ${shown} is missing from mountinfo`)
  return entry
}

/** Checks in mountinfo that the mount `mounted` (an fd opened after the bind) holds is read-only, nosuid, nodev, noexec. */
const verifySealed = (mounted: Entry, shown: string, after: string) => {
  const entry = entryOf(mounted, shown)
  const mountId = entry.id
  const lacking = missingOptions(entry)
  if (lacking.length) throw new HookError(`mount at ${shown} lacks ${lacking.join(',')} after ${after}`)
  debug('verified mount %d at %s: %s', mountId, shown, entry.options.join(','))
}

/** Remounts a bind of the source read-only through `mounted`, then verifies it. */
const seal = (run: UtilRunner, mounted: Entry, shown: string) => {
  remountReadOnly(run, mounted.fd)
  verifySealed(mounted, shown, 'remount')
}

/** A bind of the source left writable (a run killed before its remount): seal it, or take it away. */
const repair = (opts: ProvideOptions, walk: Walk): Outcome => {
  const run = opts.run ?? runUtil
  const target = walk.shown(2)
  const nvidia = walk.chain[3] as Entry
  try {
    seal(run, nvidia, target)
  } catch (er) {
    try {
      detach(run, nvidia.fd)
    } catch (undoEr) {
      throw new HookError(`${(er as Error).message}; rollback incomplete: unmount failed: ${(undoEr as Error).message}`)
    }
    throw er
  }
  return { action: 'repaired', reason: `remounted the read-write bind of ${opts.source} at ${target} read-only` }
}

const mountInto = (opts: ProvideOptions, sourceStat: Stats, walk: Walk, keep: (e: Entry) => Entry): Outcome => {
  const run = opts.run ?? runUtil
  const { chain, rootMount, shown } = walk
  const created: { parent: Entry; name: string; path: string; made: Stats }[] = []
  let before: Set<number> | undefined
  // Read before anything is made, so a libmount that cannot be read leaves nothing to undo.
  let api = opts.api ?? mountApi()
  try {
    for (let i = chain.length - 1; i < COMPONENTS.length; i++) {
      const parent = chain.at(-1) as Entry
      const name = COMPONENTS[i] as string
      const made = keep(createDirEntry(parent.fd, name, shown(i)))
      chain.push(made)
      created.push({ parent, name, path: shown(i), made: made.stat })
      debug('created %s', shown(i))
    }
    // Read under the lock, before the directories were made (which mounts nothing).
    before = walk.onRoot
    let bindError: unknown
    try {
      api = bind(run, api, opts.source, (chain[3] as Entry).fd, shown(2))
    } catch (er) {
      bindError = er
    }
    // The old fd still names the covered directory, not the mount on it.
    const mounted = openOurMount(walk.root, rootMount, before)
    if (mounted) keep(mounted)
    const isSource = mounted !== undefined && mounted.stat.dev === sourceStat.dev && mounted.stat.ino === sourceStat.ino
    if (bindError !== undefined) {
      // A libmount built with the fd-based API that fell back to mount(2) (a
      // kernel without mount_setattr): it bound, then its own remount went by
      // the fd path to the covered directory and failed. Seal it ourselves.
      if (api !== 'fd-based' || !mounted || !isSource || !missingOptions(entryOf(mounted)).length) throw bindError
      debug('mount(8) failed after a read-write bind (%s): classic mount(2) after all', errorText(bindError))
      api = 'classic'
    }
    if (!mounted) throw new HookError(`after the bind, nothing is mounted on ${shown(2)}`)
    if (!isSource) throw new HookError(`after the bind, ${shown(2)} is not ${opts.source}`)
    if (api === 'fd-based') verifySealed(mounted, shown(2), 'the bind')
    else seal(run, mounted, shown(2))
    return { action: 'mounted', reason: `bound ${opts.source} read-only at ${shown(2)} (${api} mount API)`, created: created.map(c => c.path) }
  } catch (er) {
    const problems: string[] = []
    if (before) {
      try {
        undoMount(run, walk.root, rootMount, before)
      } catch (undoEr) {
        problems.push(`unmount failed: ${(undoEr as Error).message}`)
      }
    }
    for (const c of created.reverse()) {
      try {
        removeDirEntry(c.parent.fd, c.name, c.made)
      } catch (rmEr) {
        problems.push(`cannot remove ${c.path}: ${errorText(rmEr)}`)
      }
    }
    if (problems.length) throw new HookError(`${(er as Error).message}; rollback incomplete: ${problems.join('; ')}`)
    throw er
  }
}

/** Tries before giving up on a mount point that a racing rename keeps moving. */
const MOUNT_LOOKUPS = 100

/**
 * Opens the mount our bind made, or returns undefined when it made none. Not
 * by name: a racing rename may have moved the directory or put a symlink in
 * its place, and a path read once may be stale by the time it is opened. Ours
 * is the mount that appeared on the rootfs's mount, under the rootfs, since
 * `before` (the walk saw nothing mounted there, the lock keeps other runs
 * out); its mountinfo path is accepted only if opening it lands on that mount.
 */
const openOurMount = (root: Entry, rootMount: number, before: Set<number>): Entry | undefined => {
  const under = readlinkSync(fdPath(root.fd)) + '/'
  for (let i = 0; i < MOUNT_LOOKUPS; i++) {
    const entry = readMountinfo().find(m => m.parentId === rootMount && !before.has(m.id) && m.mountPoint.startsWith(under))
    if (!entry) return undefined
    const e = openPath(entry.mountPoint)
    /* c8 ignore start -- the other outcomes need a racing rename: test/system/adversarial-race.ts */
    if (e && mountIdOfFd(e.fd) === entry.id) return e
    if (e) closeSync(e.fd)
  }
  throw new HookError(`the directory under the mount kept moving; gave up after ${MOUNT_LOOKUPS} lookups`)
}
/* c8 ignore stop */

/** Detaches the mount this run made, wherever a racing rename has moved it. */
const undoMount = (run: UtilRunner, root: Entry, rootMount: number, before: Set<number>) => {
  const e = openOurMount(root, rootMount, before)
  if (!e) return
  try {
    detach(run, e.fd)
  } finally {
    closeSync(e.fd)
  }
}
