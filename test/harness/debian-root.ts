import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Debian roots built with mmdebstrap, so the suites run the host tools that
 * other releases ship (runtimes.md "util-linux: two mount APIs", "Today's
 * runtimes from Debian sid"). Each is built once and cached between runs
 * under CACHE; its directory name carries a hash of what went into it, so a
 * changed package list builds a new one.
 */
export const CACHE = '/var/cache/nvidia-procfs-hook-tests'

/** What each suite's root is for: util-linux 2.41 (trixie); 2.42, today's runtimes and the CRI's api.proto (sid). */
export const ROOTS = {
  trixie: ['mount', 'util-linux', 'libatomic1', 'strace', 'time'],
  sid: ['mount', 'util-linux', 'libatomic1', 'strace', 'time', 'containerd', 'runc', 'crun', 'podman', 'busybox-static', 'jq', 'golang-github-kubernetes-cri-api-dev'],
} as const

export type Suite = keyof typeof ROOTS

const MIRROR = 'http://deb.debian.org/debian'

export const rootPath = (suite: Suite) => {
  const key = createHash('sha256').update(`${suite} ${ROOTS[suite].join(',')} ${MIRROR}`).digest('hex').slice(0, 12)
  return join(CACHE, `${suite}-${key}`)
}

/**
 * The cached root for `suite`, built first when missing. Concurrent callers
 * (tap runs files in parallel) wait on one flock; a build goes to a temporary
 * directory and is renamed into place only when complete, so a killed build
 * leaves no half root behind. Throws one line naming why a root cannot be had.
 */
export const debianRoot = (suite: Suite): string => {
  const root = rootPath(suite)
  if (existsSync(join(root, '.complete'))) return root
  mkdirSync(CACHE, { recursive: true })
  if (!existsSync('/usr/bin/mmdebstrap')) {
    const apt = spawnSync('/bin/sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mmdebstrap'], { encoding: 'utf8' })
    if (apt.status !== 0) throw new Error(`cannot build the ${suite} root: installing mmdebstrap failed: ${lastLine(apt.stderr)}`)
  }
  // The mirror's sid Release is past its Valid-Until date (runtimes.md).
  const script = `
    set -e
    [ -e "$ROOT/.complete" ] && exit 0
    rm -rf "$ROOT.tmp"
    mmdebstrap --quiet --variant=apt --include="$PACKAGES" \\
      --aptopt='Acquire::Check-Valid-Until "false"' --aptopt='Acquire::Retries "3"' \\
      "$SUITE" "$ROOT.tmp" "$MIRROR"
    touch "$ROOT.tmp/.complete"
    rm -rf "$ROOT" && mv "$ROOT.tmp" "$ROOT"
    # Roots of this suite built from an older package list.
    for old in "$ROOT_PREFIX"-*; do [ "$old" = "$ROOT" ] || rm -rf "$old"; done`
  const res = spawnSync('/usr/bin/flock', [join(CACHE, `${suite}.lock`), '/bin/sh', '-c', script], {
    encoding: 'utf8',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', ROOT: root, ROOT_PREFIX: join(CACHE, suite), SUITE: suite, PACKAGES: ROOTS[suite].join(','), MIRROR },
  })
  if (res.status !== 0) throw new Error(`cannot build the ${suite} root with mmdebstrap: ${lastLine(res.stderr)}`)
  return root
}

const lastLine = (text: string) => text.trim().split('\n').pop() || 'no output'

/** Builds the roots named on the command line (all when none): `node debian-root.ts [suite...]`. */
if (require.main === module) {
  const suites = (process.argv.length > 2 ? process.argv.slice(2) : Object.keys(ROOTS)) as Suite[]
  for (const s of suites) console.log(debianRoot(s))
}
