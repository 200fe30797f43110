import { closeSync, lstatSync, openSync, readdirSync, readFileSync, readSync } from 'node:fs'
import { join } from 'node:path'

/** An ELF file's magic (latin1) and e_machine (bytes 18-19, little-endian): 0x3e x86-64, 0xb7 aarch64. */
export const elfHeader = (file: string) => {
  const fd = openSync(file, 'r')
  try {
    const head = Buffer.alloc(20)
    readSync(fd, head, 0, head.length, 0)
    return { magic: head.toString('latin1', 0, 4), machine: head.readUInt16LE(18) }
  } finally {
    closeSync(fd)
  }
}

export const sameBytes = (a: string, b: string) => readFileSync(a).equals(readFileSync(b))

/** Every file (not directory) under `dir`, as absolute paths. */
export const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap(e => (e.isDirectory() ? filesUnder(join(dir, e.name)) : [join(dir, e.name)]))

/** `ls -l`'s (and rpm's) rwx string of a directory or other entry. */
export const perms = (dir: boolean, mode: number) => (dir ? 'd' : '-') + [...'rwxrwxrwx'].map((c, i) => (mode & (0o400 >> i) ? c : '-')).join('')

/** Every path under `top` (as "/path" relative to it) with its rwx string, but those under `top`/`skip` (a package database). */
export const modesUnder = (top: string, skip: string, dir = top): [string, string][] =>
  readdirSync(dir, { withFileTypes: true }).flatMap(e => {
    const path = join(dir, e.name)
    if (path.startsWith(join(top, skip))) return []
    const st = lstatSync(path)
    return [[path.slice(top.length), perms(st.isDirectory(), st.mode)] as [string, string], ...(e.isDirectory() ? modesUnder(top, skip, path) : [])]
  })
