import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { debianMirror } from '../../build/debian-mirror.cjs'

/**
 * Debian roots built with mmdebstrap, so the suites run the host tools that
 * other releases ship (runtimes.md "util-linux: two mount APIs", "Today's
 * runtimes from Debian sid"). Each is built once and cached between runs
 * under CACHE; its directory name carries a hash of what went into it, so a
 * changed package list builds a new one.
 */
export const CACHE = '/var/cache/nvidia-procfs-hook-tests'

/**
 * What each root is for: util-linux 2.41 (trixie); 2.42, today's runtimes
 * and the CRI's api.proto (sid); systemd as PID 1 of its own namespaces, as
 * a Debian 12 host boots it (systemd: runtimes.md "systemd as PID 1 here").
 * Each is a Debian suite, mmdebstrap's variant, and the packages added.
 */
export const ROOTS = {
  trixie: { suite: 'trixie', variant: 'apt', packages: ['mount', 'util-linux', 'libatomic1', 'strace', 'time'] },
  sid: {
    suite: 'sid',
    variant: 'apt',
    packages: ['mount', 'util-linux', 'libatomic1', 'strace', 'time', 'containerd', 'runc', 'crun', 'podman', 'busybox-static', 'jq', 'golang-github-kubernetes-cri-api-dev'],
  },
  systemd: { suite: 'bookworm', variant: 'minbase', packages: ['systemd', 'systemd-sysv', 'dbus', 'libatomic1', 'mount'] },
} as const

export type Suite = keyof typeof ROOTS

/**
 * Where the root named `name` is cached: its name and a hash of what goes
 * into it (the mirror too: the root's apt sources name it), so a changed
 * package list builds a new one. Reads the mirror from this machine's apt
 * configuration or NPH_DEBIAN_MIRROR (build/debian-mirror.cjs); throws one
 * line when there is none.
 */
export const rootPath = (name: Suite) => {
  const { suite, variant, packages } = ROOTS[name]
  // The roots first built with the apt variant keep their directory names.
  const what = `${suite}${variant === 'apt' ? '' : ` ${variant}`} ${packages.join(',')} ${debianMirror()}`
  return join(CACHE, `${name}-${createHash('sha256').update(what).digest('hex').slice(0, 12)}`)
}

/**
 * The cached root named `name` (ROOTS), built first when missing. Concurrent callers
 * (tap runs files in parallel) wait on one flock; a build goes to a temporary
 * directory and is renamed into place only when complete, so a killed build
 * leaves no half root behind. Throws one line naming why a root cannot be had.
 */
export const debianRoot = (name: Suite): string => {
  const root = rootPath(name)
  const { suite, variant, packages } = ROOTS[name]
  if (existsSync(join(root, '.complete'))) return root
  mkdirSync(CACHE, { recursive: true })
  if (!existsSync('/usr/bin/mmdebstrap')) {
    const apt = spawnSync('/bin/sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap'], { encoding: 'utf8' })
    if (apt.status !== 0) throw new Error(`cannot build the ${name} root: installing mmdebstrap failed: ${lastLine(apt.stderr)}`)
  }
  // The mirror's sid Release is past its Valid-Until date (runtimes.md).
  const script = `
    set -e
    [ -e "$ROOT/.complete" ] && exit 0
    rm -rf "$ROOT.tmp"
    mmdebstrap --quiet --variant="$VARIANT" --include="$PACKAGES" \\
      --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Retries "3"' \\
      "$SUITE" "$ROOT.tmp" "$MIRROR"
    touch "$ROOT.tmp/.complete"
    rm -rf "$ROOT" && mv "$ROOT.tmp" "$ROOT"
    # Roots of this name built from an older package list.
    for old in "$ROOT_PREFIX"-*; do [ "$old" = "$ROOT" ] || rm -rf "$old"; done`
  const res = spawnSync('/usr/bin/flock', [join(CACHE, `${name}.lock`), '/bin/sh', '-c', script], {
    encoding: 'utf8',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ROOT: root, ROOT_PREFIX: join(CACHE, name), SUITE: suite, VARIANT: variant, PACKAGES: packages.join(','), MIRROR: debianMirror() },
  })
  if (res.status !== 0) throw new Error(`cannot build the ${name} root with mmdebstrap: ${lastLine(res.stderr)}`)
  return root
}

const lastLine = (text: string) => text.trim().split('\n').pop() || 'no output'

/** Builds the roots named on the command line (all when none): `node debian-root.ts [name...]`. */
if (require.main === module) {
  const suites = (process.argv.length > 2 ? process.argv.slice(2) : Object.keys(ROOTS)) as Suite[]
  for (const s of suites) console.log(debianRoot(s))
}
