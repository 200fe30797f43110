import { closeSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'
import { HookError, UsageError } from './errors'
import { DEFAULT_SOURCE } from './hook'
import { openDirEntry, openRoot, type Entry } from './in-root'
import { detach, runUtil } from './mount'
import { statSource } from './provide-procfs'
import { parseArgs } from './parse-args'

export const UNMOUNT_USAGE = `Usage: nvidia-procfs-hook unmount --rootfs DIR [--source DIR]

Undoes a standalone run: detaches <rootfs>/proc/driver/nvidia when, and only
when, it is a mount of the source. Directories the hook created are left.
`

/** Removes our bind from a rootfs; anything else mounted there is left alone. */
export const unmountCommand = (argv: string[], out: (line: string) => void): number => {
  const flags = parseArgs(argv, { string: ['rootfs', 'source'] }, 'unmount')
  if (flags.help) {
    out(UNMOUNT_USAGE)
    return 0
  }
  if (flags._.length) throw new UsageError(`unmount: unexpected argument ${JSON.stringify(flags._[0])}`)
  const rootfs = flags.rootfs as string | undefined
  if (rootfs === undefined) throw new UsageError('unmount: --rootfs DIR is required')
  const source = (flags.source as string | undefined) ?? DEFAULT_SOURCE
  for (const v of [rootfs, source]) if (!isAbsolute(v)) throw new UsageError(`unmount: ${v} is not an absolute path`)
  const target = join(rootfs, 'proc/driver/nvidia')
  const opened: Entry[] = []
  try {
    let dir = openRoot(rootfs)
    let path = rootfs
    opened.push(dir)
    for (const name of ['proc', 'driver', 'nvidia']) {
      path = join(path, name)
      const e = openDirEntry(dir.fd, name, path)
      if (!e) throw new HookError(`${target} does not exist; nothing to unmount`)
      opened.push((dir = e))
    }
    const src = statSource(source)
    if (!src || dir.stat.dev !== src.dev || dir.stat.ino !== src.ino) {
      throw new HookError(`${target} is not a mount of ${source}; leaving it alone`)
    }
    detach(runUtil, dir.fd)
    out(`unmounted ${target}`)
    return 0
  } finally {
    for (const e of opened) closeSync(e.fd)
  }
}
