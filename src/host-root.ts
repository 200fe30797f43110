import { statSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import { UsageError } from './errors'
import type { Flags } from './parse-args'

/** --host-root: where the host's / is seen (a pod mounts it at /host; tests at a temp dir). */
export const hostRootFrom = (flags: Flags, command: string): string => {
  const root = (flags['host-root'] as string | undefined) ?? '/'
  if (!isAbsolute(root)) throw new UsageError(`${command}: --host-root must be an absolute path`)
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) throw new UsageError(`${command}: --host-root ${root} is not a directory`)
  return root
}
