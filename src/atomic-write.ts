import { closeSync, constants, fchmodSync, fchownSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync, type Stats } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { errorText, HookError } from './errors'

/** The file's identity: changes when it is replaced or rewritten. */
export const identity = (st: Stats) => `${st.dev}:${st.ino}:${st.size}:${st.mtimeMs}`

/**
 * Replaces `file` with `text` so that readers see the old or the new
 * content, never a part: a temp file in the same directory (its name ends
 * in .tmp, which CDI does not load), written, given the old file's owner
 * and mode, fsynced, then renamed over it. `before` is the file as it was
 * read: if it changed since, nothing is replaced (its writer wins).
 * Returns the new file's stat.
 */
export const replaceFile = (file: string, text: string, before: Stats): Stats => {
  const tmp = join(dirname(file), `.${basename(file)}.${process.pid}.tmp`)
  let fd: number | undefined
  try {
    fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600)
    const data = Buffer.from(text)
    // A short write is not an error to writeSync; the next one reports why (ENOSPC).
    for (let off = 0; off < data.length; ) off += writeSync(fd, data, off)
    // chown first: it clears set-id bits that chmod then restores.
    fchownSync(fd, before.uid, before.gid)
    fchmodSync(fd, before.mode & 0o7777)
    fsyncSync(fd)
    closeSync(fd)
    fd = undefined
    if (identity(statSync(file)) !== identity(before)) {
      rmSync(tmp)
      throw new HookError(`${file} changed while it was being rewritten; left as its writer made it`)
    }
    renameSync(tmp, file)
  } catch (er) {
    if (er instanceof HookError) throw er
    if (fd !== undefined) closeSync(fd)
    rmSync(tmp, { force: true })
    throw new HookError(`cannot replace ${file}: ${errorText(er)}`)
  }
  // The rename is durable only once the directory is.
  const dir = openSync(dirname(file), constants.O_RDONLY | constants.O_DIRECTORY)
  try {
    fsyncSync(dir)
  } finally {
    closeSync(dir)
  }
  return statSync(file)
}
