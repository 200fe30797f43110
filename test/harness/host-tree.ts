import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import type { Test } from 'tap'

/** A host's files by path (relative to its /); `#!` files are made executable; `{ link }` is a symlink. */
export type HostLayout = Record<string, string | { link: string } | null>

/** Writes `layout` into a fresh test directory, the host root doctor is pointed at (--host-root). */
export const makeHost = (t: Test, layout: HostLayout): string => {
  const root = t.testdir({})
  for (const [path, content] of Object.entries(layout)) {
    if (content === null) continue
    const file = join(root, path)
    mkdirSync(dirname(file), { recursive: true })
    if (typeof content !== 'string') {
      symlinkSync(content.link, file)
      continue
    }
    writeFileSync(file, content)
    if (content.startsWith('#!')) chmodSync(file, 0o755)
  }
  return root
}
