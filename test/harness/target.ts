import { existsSync, readdirSync } from 'node:fs'
import { join, resolve } from 'node:path'

/**
 * Names the architecture whose single executable the calling test file runs
 * (x64, arm64; default this machine's): test/system/arm64.ts sets it to run
 * the executable's files again as on an arm64 host (test/harness/enter-arch.sh).
 */
export const ARCH_VAR = 'NPH_TARGET_ARCH'

export const TARGET_ARCH = process.env[ARCH_VAR] || process.arch

/** Whether the executable under test is another architecture's, run by qemu-user. */
export const FOREIGN = TARGET_ARCH !== process.arch

/** Debian's (and OCI's) name for each architecture: build/targets.mjs's dist/linux-<it>/. */
export const DEB_ARCH: Record<string, string> = { x64: 'amd64', arm64: 'arm64' }

/** Where build/targets.mjs puts each architecture's single executable (this machine's: also dist/nvidia-procfs-hook). */
export const EXE = resolve(FOREIGN ? `dist/linux-${DEB_ARCH[TARGET_ARCH]}/nvidia-procfs-hook` : 'dist/nvidia-procfs-hook')

const CACHE = resolve('node_modules/.cache/nvidia-procfs-hook')

/** The pinned base Node the executable was built on (build/node-base.mjs), as the build unpacked it. */
export const BASE_NODE = join(
  CACHE,
  (existsSync(CACHE) && readdirSync(CACHE).find(n => n.startsWith(`node-linux-${TARGET_ARCH}-`))) || `node-linux-${TARGET_ARCH}: missing, run npm test's pretest`,
  'bin/node',
)

/** ELF e_machine per architecture (elf.h: EM_X86_64, EM_AARCH64). */
export const ELF_MACHINE: Record<string, number> = { x64: 0x3e, arm64: 0xb7 }

/** qemu's name for an architecture, and its libraries' sysroot (extracted by the build: build/targets.mjs). */
export const QEMU_ARCH: Record<string, string> = { x64: 'x86_64', arm64: 'aarch64' }
export const sysrootFor = (arch: string) => join(CACHE, `sysroot-linux-${arch}`)
