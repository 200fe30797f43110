import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { CACHE } from './debian-root'

/**
 * What the loader is built from, all Debian 12 packages (runtimes.md "CRI-O
 * and the NRI hook-injector"): Go 1.19 and containers/common 0.50.1's
 * pkg/hooks with what it imports. Fetched with `apt-get download` (this
 * machine's apt sources) and unpacked with `dpkg-deb -x`: nothing is
 * installed, nothing else is downloaded.
 */
export const LOADER_PACKAGES = [
  'golang-1.19-go',
  'golang-1.19-src',
  'golang-github-containers-common-dev',
  'golang-github-opencontainers-specs-dev',
  'golang-github-sirupsen-logrus-dev',
  'golang-golang-x-sys-dev',
  'golang-github-fsnotify-fsnotify-dev',
]

const SOURCE = resolve(__dirname, '../fixtures/hooks-loader/main.go')

/**
 * The path of a static hooks-loader binary (test/fixtures/hooks-loader/main.go):
 * containers/common's pkg/hooks as CRI-O, the NRI hook-injector and podman
 * call it. Built once, in GOPATH mode (GO111MODULE=off), and cached under
 * CACHE in a directory named by a hash of its source and package list; a
 * build goes to a temporary directory renamed into place when complete,
 * under a flock shared with concurrent callers. Throws one line when it
 * cannot be built (no apt, no network to this machine's Debian mirror).
 */
export const hooksLoader = (): string => {
  const hash = createHash('sha256').update(readFileSync(SOURCE)).update(LOADER_PACKAGES.join(',')).digest('hex').slice(0, 12)
  const dir = join(CACHE, `hooks-loader-${hash}`)
  const loader = join(dir, 'hooks-loader')
  if (existsSync(loader)) return loader
  mkdirSync(CACHE, { recursive: true })
  const script = `
    set -e
    [ -e "$DIR/hooks-loader" ] && exit 0
    rm -rf "$DIR.tmp" && mkdir -p "$DIR.tmp/debs" "$DIR.tmp/root"
    cd "$DIR.tmp/debs"
    apt-get download -qq $PACKAGES 2>/dev/null || { apt-get update -qq && apt-get download -qq $PACKAGES; }
    for deb in *.deb; do dpkg-deb -x "$deb" "$DIR.tmp/root"; done
    cd "$DIR.tmp"
    env -i PATH=/usr/bin:/bin HOME="$DIR.tmp" GOROOT="$DIR.tmp/root/usr/lib/go-1.19" \\
      GOPATH="$DIR.tmp/root/usr/share/gocode" GO111MODULE=off CGO_ENABLED=0 GOCACHE="$DIR.tmp/gocache" \\
      "$DIR.tmp/root/usr/lib/go-1.19/bin/go" build -o hooks-loader "$SOURCE"
    mkdir "$DIR" && mv hooks-loader "$DIR/"
    cd / && rm -rf "$DIR.tmp"
    # Loaders built from an older source.
    for old in "$CACHE"/hooks-loader-*; do [ "$old" = "$DIR" ] || [ "$old" = "$CACHE/hooks-loader.lock" ] || rm -rf "$old"; done`
  const res = spawnSync('/usr/bin/flock', [join(CACHE, 'hooks-loader.lock'), '/bin/sh', '-c', script], {
    encoding: 'utf8',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', DIR: dir, CACHE, SOURCE, PACKAGES: LOADER_PACKAGES.join(' '), DEBIAN_FRONTEND: 'noninteractive' },
  })
  if (res.status !== 0) throw new Error(`cannot build the hooks-loader from Debian's packages: ${res.stderr.trim().split('\n').pop() || 'no output'}`)
  return loader
}

/** What the loader printed: New's error (the engine would not start), or the hooks one container gets. */
export interface LoaderResult {
  error?: string
  hooks?: Record<string, { path: string; args?: string[]; env?: string[] }[]> | null
  extension?: Record<string, { path: string; args?: string[]; env?: string[] }[]> | null
}

/**
 * Runs the loader on `dirs` as seen from `root` (chroot: the files' hook
 * paths must exist there, or pkg/hooks skips them silently), with podman's
 * extension stages or none (CRI-O, NRI) and the container's `annotations`.
 */
export const loadHooks = (loader: string, root: string, dirs: string[], opts: { extensionStages?: string[]; annotations?: Record<string, string> } = {}): LoaderResult => {
  const inRoot = '/.hooks-loader'
  const copy = spawnSync('/bin/cp', [loader, join(root, inRoot)])
  if (copy.status !== 0) throw new Error(`cannot copy the loader into ${root}`)
  const res = spawnSync(
    '/usr/sbin/chroot',
    [root, inRoot, '-extension-stages', (opts.extensionStages ?? []).join(','), '-annotations', JSON.stringify(opts.annotations ?? {}), ...dirs],
    { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } },
  )
  spawnSync('/bin/rm', ['-f', join(root, inRoot)])
  if (res.status !== 0 && res.status !== 1) throw new Error(`hooks-loader: exit ${res.status}: ${res.stderr}`)
  return JSON.parse(res.stdout) as LoaderResult
}
