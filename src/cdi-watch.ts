import { accessSync, constants, readdirSync, statSync, watch, type FSWatcher, type Stats } from 'node:fs'
import { dirname, join } from 'node:path'
import { identity } from './atomic-write'
import { errorCode, errorText, HookError } from './errors'
import type { HookIO } from './hook'

/** Quiet time after the last change before a rewritten spec is read: writers rarely write in one go. */
export const DEBOUNCE_MS = 200

/**
 * How often each followed directory's (dev, ino) is compared with the one
 * watched: a filesystem mounted over it (a tmpfs on /var/run/cdi) raises no
 * inotify event at all. One stat per directory and second.
 */
export const POLL_MS = 1000

/** How often arming may lose a race with a directory removed under it before that is an error. */
const ARM_TRIES = 20

/** A directory to follow, and which of its names are specs to hand over. */
export interface WatchTarget {
  dir: string
  accepts: (name: string) => boolean
  /** What the operator named (the directory, or a FILE in it), for the `watching` line. */
  label: string
}

/** The nearest existing directory at or above a path, and which one it is. */
interface Place {
  path: string
  id: string
}

const dirId = (st: Stats) => `${st.dev}:${st.ino}`

/**
 * The nearest of `dir` and its ancestors that is a directory. Absent (or a
 * non-directory in the way) is normal; anything else (EACCES, ELOOP) throws.
 */
export const locate = (dir: string): Place => {
  const statIfThere = (path: string): Stats | undefined => {
    try {
      return statSync(path)
    } catch (er) {
      if (errorCode(er) !== 'ENOENT' && errorCode(er) !== 'ENOTDIR') throw er
      return undefined
    }
  }
  let path = dir
  let st = statIfThere(path)
  // `/` is always a directory, so this ends.
  while (!st?.isDirectory()) st = statIfThere((path = dirname(path)))
  return { path, id: dirId(st) }
}

/** Stops every watch and timer; idempotent. */
export type StopWatching = () => void

/**
 * Follows each target directory whether or not it exists, and hands every
 * spec in it that changes (created, rewritten in place, renamed over) to
 * `handle` once it has been quiet for DEBOUNCE_MS; a file whose identity is
 * still what `written` records (our own replace) is skipped.
 *
 * An absent directory is waited for by watching its nearest existing
 * ancestor; a directory removed, renamed away, replaced or mounted over is
 * noticed (inotify, or the (dev, ino) check every POLL_MS) and the new one
 * is watched and every spec in it handed over. Each such move is one line on
 * `io.out`. A directory that cannot be watched (EACCES, ENOSPC: the inotify
 * limit), or that can be seen but not written (EROFS: e.g. a stale bind in a
 * sandbox), is one `nvidia-procfs-hook: error:` line on `io.err`,
 * process.exitCode 1 and everything stopped, so that the process ends and
 * its supervisor restarts it; so is an error `handle` throws that is not a
 * HookError (`handle` reports its HookErrors itself).
 *
 * In: the targets, the map of our writes, the handler, the output, and the
 * first pass over what is there, run once every watch is armed (so that
 * nothing written meanwhile is missed: its event is handled after). Out:
 * the stop function, also run on SIGTERM and SIGINT (which leave the exit
 * code alone, so the process exits 0). Throws nothing: a failure to arm at
 * start takes the fatal path above, and the first pass is then not run.
 */
export const watchSpecs = (
  targets: WatchTarget[],
  written: Map<string, string>,
  handle: (file: string) => void,
  io: HookIO,
  firstPass: () => void,
): StopWatching => {
  const timers = new Map<string, NodeJS.Timeout>()
  const followers: { target: WatchTarget; place?: Place; watcher?: FSWatcher }[] = targets.map(target => ({ target }))
  let stopped = false
  // every(): the first fatal stops the round.
  const poll = setInterval(() => followers.every(check), POLL_MS)

  const stop: StopWatching = () => {
    if (stopped) return
    stopped = true
    process.off('SIGTERM', stop)
    process.off('SIGINT', stop)
    clearInterval(poll)
    for (const f of followers) f.watcher?.close()
    for (const t of timers.values()) clearTimeout(t)
    io.out('stopped watching')
  }
  const fatal = (message: string) => {
    io.err(`nvidia-procfs-hook: error: ${message}; exiting so that the supervisor restarts it`)
    process.exitCode = 1
    stop()
  }

  const changed = (file: string) => {
    clearTimeout(timers.get(file))
    const timer = setTimeout(() => {
      timers.delete(file)
      const st = statSync(file, { throwIfNoEntry: false })
      // Gone (removed, renamed away), or still what we wrote: nothing to do.
      if (st === undefined || written.get(file) === identity(st)) return
      try {
        handle(file)
      } catch (er) {
        fatal(`internal error handling ${file}: ${errorText(er)}`)
      }
    }, DEBOUNCE_MS)
    timers.set(file, timer)
  }

  /** Every spec now in the target directory: after (re)arming, whatever is there may be new to us. */
  const scan = ({ dir, accepts }: WatchTarget) => {
    let names: string[]
    try {
      names = readdirSync(dir)
    } catch (er) {
      // Gone again already: its removal raised an event, or the next poll sees it.
      if (errorCode(er) === 'ENOENT' || errorCode(er) === 'ENOTDIR') return
      throw er
    }
    for (const name of names.filter(accepts).sort()) changed(join(dir, name))
  }

  /** Watches the target directory, or its nearest existing ancestor until it appears; throws when it cannot. */
  const arm = (f: (typeof followers)[number]) => {
    const { dir, accepts } = f.target
    f.watcher?.close()
    f.watcher = undefined
    for (let tries = 0; ; tries++) {
      const place = locate(dir)
      const here = place.path === dir
      // The first name below the ancestor on the way to `dir`: the only one that matters there.
      const next = here ? undefined : dir.slice(place.path.length).split('/').find(Boolean)
      try {
        f.watcher = watch(place.path, (event, name) => {
          if (here && name !== null && accepts(name)) changed(join(dir, name))
          // Creation, removal or rename of the directory itself (or of the one we wait for).
          if (event === 'rename' && (here || name === null || name === next)) check(f)
        })
      } catch (er) {
        // Removed between the stat and the watch: look again.
        if (errorCode(er) === 'ENOENT' && tries < ARM_TRIES) continue
        throw er
      }
      f.watcher.on('error', er => rearm(f, `watching ${place.path}: ${er.message}`))
      const before = f.place
      f.place = place
      if (here) {
        try {
          // A directory seen but not writable cannot be patched: say so, and let a restart get a fresh view.
          accessSync(dir, constants.W_OK)
        } catch (er) {
          if (errorCode(er) === 'EROFS') throw new HookError(`${dir} is on a read-only filesystem here (a stale sandbox bind, or mounted read-only)`)
          throw er
        }
        // At start the first pass reads what is there.
        if (before === undefined) return
        io.out(before.path === dir ? `${dir}: replaced; watching the new one` : `${dir}: appeared; watching it`)
        scan(f.target)
      } else {
        io.out(`${dir}: ${before?.path === dir ? 'gone' : 'does not exist'}; waiting for it (watching ${place.path})`)
      }
      return
    }
  }

  /** Arms again, or ends everything; false once stopped. */
  const rearm = (f: (typeof followers)[number], why?: string): boolean => {
    try {
      arm(f)
    } catch (er) {
      const what = er instanceof HookError ? er.message : `cannot watch ${f.target.dir}: ${errorText(er)}`
      fatal(why === undefined ? what : `${why}; ${what}`)
    }
    return !stopped
  }

  /** Re-arms when the directory (or the ancestor waited on) is no longer the one watched; false once stopped. */
  function check(f: (typeof followers)[number]): boolean {
    let now: Place
    try {
      now = locate(f.target.dir)
    } catch (er) {
      fatal(`cannot watch ${f.target.dir}: ${errorText(er)}`)
      return false
    }
    return now.path === f.place?.path && now.id === f.place.id ? true : rearm(f)
  }

  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)
  if (!followers.every(f => rearm(f))) return stop
  try {
    firstPass()
  } catch (er) {
    // A bug in the first pass: main reports it; nothing must keep the process alive.
    stop()
    throw er
  }
  io.out(`watching ${targets.map(t => t.label).join(', ')}`)
  return stop
}
