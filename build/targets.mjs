// The architectures the single executable and the packages are built for,
// and where each one's build output lies: dist/linux-<Debian arch>/
// nvidia-procfs-hook (amd64, arm64: OCI's names too, so the Containerfile
// picks one by TARGETARCH), and dist/nvidia-procfs-hook, a hard link to this
// machine's (what the suites, the demo and `install` use). Both are
// built here: a foreign Node runs under Debian's qemu-user-static, with its
// libraries from a sysroot that mmdebstrap extracts from Debian's packages.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { debianMirror } from './debian-mirror.cjs'

/**
 * Per Node architecture (process.arch): the names Debian (dpkg), rpm and
 * qemu give it, the strip that reads its ELF files (binutils-<triplet>), and
 * its ELF e_machine (for checks).
 */
export const TARGETS = {
  x64: { deb: 'amd64', rpm: 'x86_64', qemu: 'x86_64', strip: 'x86_64-linux-gnu-strip', binutils: 'binutils-x86-64-linux-gnu', elfMachine: 0x3e },
  arm64: { deb: 'arm64', rpm: 'aarch64', qemu: 'aarch64', strip: 'aarch64-linux-gnu-strip', binutils: 'binutils-aarch64-linux-gnu', elfMachine: 0xb7 },
}

export const NAME = 'nvidia-procfs-hook'

/** Every architecture when `arg` is 'all', else the one named (default: this machine's); throws naming the known ones. */
export const targetArches = (arg = process.arch) => {
  if (arg === 'all') return Object.keys(TARGETS)
  if (!Object.hasOwn(TARGETS, arg)) throw new Error(`--arch ${arg}: not one of ${Object.keys(TARGETS).join(', ')}, all`)
  return [arg]
}

/** Where `npm run build` puts the single executable for `arch` (absolute). */
export const executablePath = arch => resolve('dist', `linux-${TARGETS[arch].deb}`, NAME)

/** This machine's single executable (absolute): a hard link to executablePath(process.arch). */
export const HOST_EXECUTABLE = resolve('dist', NAME)

/** The Debian packages that building for `arch` needs on this machine besides build/debian-deps.mjs's. */
export const crossPackages = arch => (arch === process.arch ? [] : ['qemu-user-static', 'mmdebstrap', TARGETS[arch].binutils])

// The base Node links glibc, libstdc++, libgcc_s and libatomic (readelf -d).
const SYSROOT_PACKAGES = ['libc6', 'libstdc++6', 'libatomic1', 'libgcc-s1']
const cache = resolve('node_modules/.cache/nvidia-procfs-hook')

/**
 * The command that runs an `arch` program here: [] for this machine's,
 * else qemu-user with a sysroot of Debian 12's libraries for `arch`
 * (node_modules/.cache/nvidia-procfs-hook/sysroot-linux-<arch>, extracted
 * by mmdebstrap the first time, from this machine's Debian mirror:
 * build/debian-mirror.cjs; a killed extraction leaves no half sysroot).
 * Throws one line naming what failed.
 */
export const runnerFor = arch => {
  if (arch === process.arch) return []
  const sysroot = join(cache, `sysroot-linux-${arch}`)
  if (!existsSync(join(sysroot, '.complete'))) {
    mkdirSync(cache, { recursive: true })
    const tmp = `${sysroot}.${process.pid}`
    rmSync(tmp, { recursive: true, force: true })
    const res = spawnSync(
      'mmdebstrap',
      ['--quiet', '--variant=extract', `--architectures=${TARGETS[arch].deb}`, `--include=${SYSROOT_PACKAGES.join(',')}`, 'bookworm', tmp, debianMirror()],
      { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] },
    )
    if (res.status !== 0) {
      rmSync(tmp, { recursive: true, force: true })
      throw new Error(`cannot extract the ${arch} sysroot with mmdebstrap: ${(res.stderr ?? '').trim().split('\n').pop() || res.error?.message}`)
    }
    writeFileSync(join(tmp, '.complete'), '')
    rmSync(sysroot, { recursive: true, force: true })
    renameSync(tmp, sysroot)
  }
  return [`/usr/bin/qemu-${TARGETS[arch].qemu}-static`, '-L', sysroot]
}
