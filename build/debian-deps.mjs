// Installs the Debian packages a step needs, so that the README's two lines
// work on a fresh Debian 12 machine as root with only Node and npm added:
// `node build/debian-deps.mjs build|test`. Already installed: nothing is
// done (no apt run). Not root, or no apt: one line naming what is missing,
// exit 1. Also imported by build.mjs.
import { spawnSync } from 'node:child_process'
import { pathToFileURL } from 'node:url'

/**
 * What each step runs: the build strips and runs the Node base binary (it
 * links libatomic), and build/targets.mjs's crossPackages adds what another
 * architecture's needs; the tests build every architecture, run the foreign
 * one under qemu-user, and run runtimes, util-linux and mmdebstrap (with
 * arch-test, which mmdebstrap needs for another architecture's root).
 */
export const PACKAGES = {
  build: ['binutils', 'libatomic1'],
  test: ['binutils', 'libatomic1', 'qemu-user-static', 'binutils-aarch64-linux-gnu', 'runc', 'crun', 'podman', 'runsc', 'busybox-static', 'jq', 'util-linux', 'mount', 'procps', 'time', 'man-db', 'strace', 'mmdebstrap', 'arch-test', 'uidmap', 'systemd', 'dpkg-dev', 'rpm'],
}

const installed = pkg => spawnSync('dpkg-query', ['-W', '-f=${Status}', pkg], { encoding: 'utf8' }).stdout === 'install ok installed'

/** Installs what `step` needs, and `extra`, when missing; throws one line when it cannot. */
export const ensureDebianPackages = (step, extra = []) => {
  const missing = [...new Set([...PACKAGES[step], ...extra])].filter(p => !installed(p))
  if (!missing.length) return
  const why = process.getuid?.() !== 0 ? 'not root' : spawnSync('apt-get', ['--version']).error ? 'no apt-get (not Debian?)' : undefined
  if (why) throw new Error(`${step} needs the Debian packages ${missing.join(' ')} (${why}): install them, or run this as root on Debian`)
  console.error(`installing Debian packages for ${step}: ${missing.join(' ')}`)
  // A mirror hiccup should not fail the run: three tries.
  for (let attempt = 1; ; attempt++) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    const update = spawnSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env })
    const install = update.status === 0 && spawnSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: ['ignore', 'ignore', 'inherit'], env })
    if (install && install.status === 0) return
    if (attempt === 3) throw new Error(`${step}: apt-get could not install ${missing.join(' ')}`)
    spawnSync('sleep', ['10'])
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    ensureDebianPackages(process.argv[2] ?? 'test')
  } catch (er) {
    console.error(`nvidia-procfs-hook: ${er.message}`)
    process.exit(1)
  }
}
