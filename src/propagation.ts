import { readdirSync, readFileSync, statSync } from 'node:fs'
import { errorCode, errorText, HookError } from './errors'
import { parseMountinfo, type MountEntry } from './mountinfo'

const groupsOf = (m: MountEntry, kind: 'shared' | 'master') =>
  m.propagation.filter(p => p.startsWith(`${kind}:`)).map(p => Number(p.slice(kind.length + 1)))

/** A mount of another namespace, and a process through which it was seen. */
interface Foreign {
  pid: number
  mount: MountEntry
}

/**
 * Errors that pass over one process: it went away while we looked (its
 * namespace is seen through another, or gone), or it is more privileged than
 * we are (EACCES: ptrace read access, e.g. a supervisor holding a capability
 * we lack, or an LSM's denial). Its namespace is then judged through any
 * other process in it that we can read.
 */
const PASSED_OVER = new Set(['ENOENT', 'ESRCH', 'EACCES', 'EPERM'])

/** What `read` returns, or undefined when it fails with an error in PASSED_OVER. */
const unlessPassedOver = <T>(read: () => T): T | undefined => {
  try {
    return read()
  } catch (er) {
    if (PASSED_OVER.has(errorCode(er) as string)) return undefined
    /* c8 ignore start -- only when /proc itself cannot be read */
    throw new HookError(`cannot inspect mount namespaces to check mount propagation: ${errorText(er)}`)
  }
  /* c8 ignore stop */
}

/**
 * Every other mount namespace that /proc shows a readable process in, with
 * its mounts; and the inodes (nsfs) of all namespaces seen, ours included.
 */
const otherNamespaces = (): { foreign: Foreign[]; seen: Set<number> } => {
  const seen = new Set([statSync('/proc/self/ns/mnt').ino])
  const foreign: Foreign[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    const found = unlessPassedOver(() => {
      const ino = statSync(`/proc/${pid}/ns/mnt`).ino
      // One read of each namespace's mount table, through its first process.
      return seen.has(ino) ? undefined : { ino, mounts: parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8')) }
    })
    if (!found) continue
    seen.add(found.ino)
    for (const mount of found.mounts) foreign.push({ pid: Number(pid), mount })
  }
  return { foreign, seen }
}

/**
 * Where a mount made on `mount` (an entry of our own mountinfo, `ours`)
 * would also appear outside this mount namespace; undefined when nowhere.
 *
 * The kernel's rule (Documentation/filesystems/sharedsubtree.rst): a mount
 * event under a shared mount reaches every peer of its group and every slave
 * of that group, and goes on from slaves that are shared themselves; a
 * private or slave-only mount sends nothing. Peer groups span namespaces: a
 * namespace copied from one that held group N holds members of N. So a
 * shared mount is harmless exactly when no mount of another namespace is in,
 * or a slave of, a group its events reach: a bind made shared inside a
 * namespace of its own, its peers all local. (runsc's gofer never gets there:
 * runsc refuses `rootfsPropagation` rshared or shared before any hook runs,
 * test/e2e/runsc-gofer.ts.) A systemd host's shared `/` is not: every
 * namespace copied from it holds peers or slaves.
 *
 * Other namespaces are found through the processes /proc shows and lets us
 * read; one that no such process shows but a bind of its nsfs file keeps
 * alive cannot be read, and counts as reached. A namespace whose every
 * process is hidden from us (another pid namespace's /proc, or all more
 * privileged than we are) is not seen: SECURITY.md names this limit.
 * Throws HookError when /proc cannot be read.
 */
export const propagationOutside = (mount: MountEntry, ours: MountEntry[]): string | undefined => {
  const reached = new Set(groupsOf(mount, 'shared'))
  if (!reached.size) return undefined
  const { foreign, seen } = otherNamespaces()
  const all = [...ours, ...foreign.map(f => f.mount)]
  for (let grew = true; grew; ) {
    grew = false
    for (const m of all) {
      if (!groupsOf(m, 'master').some(g => reached.has(g))) continue
      for (const g of groupsOf(m, 'shared')) {
        if (reached.has(g)) continue
        reached.add(g)
        grew = true
      }
    }
  }
  const hit = foreign.find(f => [...groupsOf(f.mount, 'shared'), ...groupsOf(f.mount, 'master')].some(g => reached.has(g)))
  if (hit) return `the mount namespace of pid ${hit.pid} (at ${hit.mount.mountPoint})`
  const kept = all.find(m => m.fsType === 'nsfs' && /^mnt:\[\d+\]$/.test(m.root) && !seen.has(Number(m.root.slice(5, -1))))
  if (kept) return `a mount namespace that no process shows, kept by ${kept.mountPoint}`
  return undefined
}
