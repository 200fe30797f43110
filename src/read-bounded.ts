import { closeSync, openSync, readSync, constants } from 'node:fs'
import { errorCode, errorText, HookError } from './errors'

/** Runtime state and config.json are small; anything past this is refused, not read. */
export const MAX_INPUT_BYTES = 4 * 1024 * 1024

const sleepMs = (ms: number) =>
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms)

/**
 * Reads a whole fd synchronously, refusing more than `limit` bytes.
 * EAGAIN happens when a runtime hands us a non-blocking pipe; we wait briefly
 * and retry rather than treating it as end of input.
 */
export const readFdBounded = (fd: number, what: string, limit = MAX_INPUT_BYTES): string => {
  const chunks: Buffer[] = []
  let total = 0
  const buf = Buffer.allocUnsafe(64 * 1024)
  for (;;) {
    let n: number
    try {
      n = readSync(fd, buf, 0, buf.length, null)
    } catch (er) {
      if (errorCode(er) === 'EAGAIN') {
        sleepMs(2)
        continue
      }
      throw new HookError(`cannot read ${what}: ${errorText(er)}`)
    }
    if (n === 0) break
    total += n
    if (total > limit) throw new HookError(`${what} is larger than ${limit} bytes`)
    chunks.push(Buffer.from(buf.subarray(0, n)))
  }
  return Buffer.concat(chunks).toString('utf8')
}

/** Reads a file that must be a regular file we can open, bounded like stdin. */
export const readFileBounded = (path: string, what: string, limit = MAX_INPUT_BYTES): string => {
  let fd: number
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK)
  } catch (er) {
    const code = errorCode(er)
    throw new HookError(
      code === 'ENOENT' ? `${what} ${path} does not exist` : `cannot open ${what} ${path}: ${errorText(er)}`,
      1,
      { cause: er },
    )
  }
  try {
    return readFdBounded(fd, `${what} ${path}`, limit)
  } finally {
    closeSync(fd)
  }
}
