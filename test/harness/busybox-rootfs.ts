import { copyFileSync, mkdirSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'

const APPLETS = ['sh', 'cat', 'ls', 'echo', 'true', 'sleep', 'grep', 'mount', 'test']

/** A minimal rootfs: Debian's static busybox and a few applet links (busybox-static). */
export const writeBusyboxRootfs = (rootfs: string) => {
  mkdirSync(join(rootfs, 'bin'), { recursive: true })
  for (const dir of ['proc', 'dev', 'sys', 'tmp', 'run', 'etc']) mkdirSync(join(rootfs, dir), { recursive: true })
  copyFileSync('/bin/busybox', join(rootfs, 'bin/busybox'))
  for (const a of APPLETS) symlinkSync('busybox', join(rootfs, 'bin', a))
}
