// A hostile image against the real executable: every case asserts the exit
// code, the one-line message, no mount or file change outside the rootfs,
// and that any mount is the read-only bind exactly at <rootfs>/proc/driver/nvidia.
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
// Before the re-run: tap's default 30 s would kill the outer process mid-suite.
t.setTimeout(180_000)
enterPrivateMountNamespace()

import { execFileSync } from 'node:child_process'
import { closeSync, linkSync, mkdirSync, openSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { dirname, join, relative } from 'node:path'
import type { Test } from 'tap'
import { assertContained, assertOneLine, gvisorState, mountsIn, runHook, snapshot, SOURCE } from '../harness/containment'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { scratchBundle } from '../harness/scratch'

mountFakeDriver()
t.teardown(unmountFakeDriver)

const COMPONENTS = ['proc', 'driver', 'nvidia'] as const
const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' })

/** A bundle with bait outside its rootfs: a dir the symlinks point at, and a file in it. */
const setup = (t: Test, rootPath = 'rootfs') => {
  const b = scratchBundle(t, rootPath)
  const bait = join(b.bundle, 'bait')
  mkdirSync(join(bait, 'driver/nvidia'), { recursive: true })
  writeFileSync(join(bait, 'secret'), 'host data\n')
  return { ...b, bait }
}

interface Expect {
  status: number
  /** The one stderr line, or undefined for silence. */
  message?: RegExp
  mount: boolean
}

/** Runs the hook as a createContainer hook under runsc would, and checks containment. */
const check = (t: Test, bundle: string, rootfs: string, watch: string[], want: Expect, args: string[] = []) => {
  const before = snapshot(rootfs, [...watch, SOURCE], ['/'])
  const run = runHook(['--stage', 'createContainer', ...args], gvisorState(bundle))
  t.equal(run.status, want.status, `exit ${want.status}`)
  assertOneLine(t, run, want.message)
  t.equal(run.stdout, '', 'nothing on stdout')
  return assertContained(t, before, want.mount)
}

/** Puts the parents of component `i` in place as plain directories; returns the path of component `i`. */
const placeAt = (rootfs: string, i: number) => {
  const parent = join(rootfs, ...COMPONENTS.slice(0, i))
  mkdirSync(parent, { recursive: true })
  return join(parent, COMPONENTS[i] as string)
}

const listenSocket = (path: string) =>
  new Promise<void>(done => {
    // Node unlinks its socket on close; a hard link keeps the inode in place.
    const server = createServer().listen(path + '.tmp', () => {
      linkSync(path + '.tmp', path)
      server.close(() => done())
    })
  })

type Plant = (at: string, ctx: { rootfs: string; bait: string }) => void | Promise<void>
const KINDS: [string, string, Plant][] = [
  ['an absolute symlink out of the rootfs', 'a symlink', (at, { bait }) => symlinkSync(bait, at)],
  ['an absolute symlink to /', 'a symlink', at => symlinkSync('/', at)],
  ['a relative symlink climbing out', 'a symlink', (at, { bait }) => symlinkSync(relative(dirname(at), bait), at)],
  ['a relative symlink climbing far above /', 'a symlink', at => symlinkSync('../'.repeat(64) + 'tmp', at)],
  [
    'a symlink to another in-root dir',
    'a symlink',
    (at, { rootfs }) => {
      mkdirSync(join(rootfs, 'elsewhere/driver/nvidia'), { recursive: true })
      symlinkSync(relative(dirname(at), join(rootfs, 'elsewhere')), at)
    },
  ],
  ['a dangling symlink', 'a symlink', at => symlinkSync('does-not-exist', at)],
  ['a symlink loop', 'a symlink', at => symlinkSync(`./${COMPONENTS.find(c => at.endsWith(c))}`, at)],
  ['a regular file', 'a regular file', at => writeFileSync(at, 'not a directory\n')],
  ['a fifo', 'a fifo', at => sh('/usr/bin/mkfifo', at)],
  ['a socket', 'a socket', at => listenSocket(at)],
  ['a character device', 'a character device', at => sh('/usr/bin/mknod', at, 'c', '1', '3')],
  ['a block device', 'a block device', at => sh('/usr/bin/mknod', at, 'b', '7', '0')],
]

for (const [i, name] of COMPONENTS.entries()) {
  for (const [label, kind, plant] of KINDS) {
    t.test(`${name} is ${label}: refused, nothing outside touched`, async t => {
      const { bundle, rootfs, bait } = setup(t)
      const at = placeAt(rootfs, i)
      await plant(at, { rootfs, bait })
      const shown = join(rootfs, ...COMPONENTS.slice(0, i + 1))
      check(t, bundle, rootfs, [bait, dirname(rootfs) + '/config.json'], {
        status: 1,
        message: new RegExp(`^nvidia-procfs-hook: error: ${shown} is ${kind}, not a directory; refusing to use it$`),
        mount: false,
      })
    })
  }
}

for (const [i, name] of COMPONENTS.entries()) {
  t.test(`${name} is a bind mount of a host dir: refused, host dir untouched`, async t => {
    const { bundle, rootfs, bait } = setup(t)
    const at = placeAt(rootfs, i)
    mkdirSync(at)
    const host = join(bundle, 'host-dir')
    mkdirSync(host)
    writeFileSync(join(host, 'keep'), 'x')
    sh('/usr/bin/mount', '--bind', host, at)
    check(t, bundle, rootfs, [bait, host], {
      status: 1,
      message: new RegExp(`^nvidia-procfs-hook: error: ${at} is a mount point, not part of the rootfs; refusing to create or mount there$`),
      mount: false,
    })
  })
}

t.test('proc is a bind of the host /proc (no driver under it): skipped with a warning, never mounted over', async t => {
  const { bundle, rootfs, bait } = setup(t)
  mkdirSync(join(rootfs, 'proc'))
  sh('/usr/bin/mount', '--bind', '/proc', join(rootfs, 'proc'))
  check(t, bundle, rootfs, [bait], { status: 0, message: /^nvidia-procfs-hook: warning: .*procfs without driver\/nvidia; never mounting over a procfs$/, mount: false })
})

t.test('proc is a recursive bind of the host /proc (driver visible): skipped silently', async t => {
  const { bundle, rootfs, bait } = setup(t)
  mkdirSync(join(rootfs, 'proc'))
  sh('/usr/bin/mount', '--rbind', '/proc', join(rootfs, 'proc'))
  sh('/usr/bin/mount', '--make-rprivate', join(rootfs, 'proc'))
  check(t, bundle, rootfs, [bait], { status: 0, mount: false })
})

t.test('the image ships proc/driver/nvidia/params as a symlink to a host file: no mount (NVIDIA\'s hook resolves it in-root)', async t => {
  const { bundle, rootfs, bait } = setup(t)
  mkdirSync(join(rootfs, 'proc/driver/nvidia'), { recursive: true })
  symlinkSync(join(bait, 'secret'), join(rootfs, 'proc/driver/nvidia/params'))
  check(t, bundle, rootfs, [bait], { status: 0, mount: false })
})

t.test('the image ships an empty proc/driver/nvidia: mounted onto it', async t => {
  const { bundle, rootfs, bait } = setup(t)
  mkdirSync(join(rootfs, 'proc/driver/nvidia'), { recursive: true })
  check(t, bundle, rootfs, [bait], { status: 0, mount: true })
})

t.test('the rootfs reached through a symlink in the bundle (trusted path): mounted at the real directory', async t => {
  const { bundle, rootfs, bait } = setup(t)
  const realRoot = join(bundle, 'real-rootfs')
  renameSync(rootfs, realRoot)
  symlinkSync('real-rootfs', rootfs)
  check(t, bundle, rootfs, [bait], { status: 0, mount: true })
})

t.test('the bundle path itself is a symlink: mounted at the real directory', async t => {
  const { bundle, rootfs, bait } = setup(t)
  const link = bundle + '-link'
  symlinkSync(bundle, link)
  t.teardown(() => execFileSync('/usr/bin/rm', ['-f', link]))
  check(t, link, rootfs, [bait], { status: 0, mount: true })
})

for (const rootPath of ['sub/../rootfs', './rootfs/.', 'ROOT/../../BUNDLE/rootfs', 'ABS/bait/../rootfs']) {
  t.test(`root.path ${JSON.stringify(rootPath)}: normalised, mounted inside the rootfs`, async t => {
    const { bundle, rootfs, bait } = setup(t)
    const path = rootPath.replace('BUNDLE', bundle.split('/').pop() as string).replace('ABS', bundle)
    writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path } }))
    check(t, bundle, rootfs, [bait], { status: 0, mount: true })
  })
}

t.test('an absolute root.path through a missing dir and "..": the kernel resolves it, a clean refusal', async t => {
  const { bundle, rootfs, bait } = setup(t)
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: `${bundle}/missing/../rootfs` } }))
  check(t, bundle, rootfs, [bait], { status: 1, message: /^nvidia-procfs-hook: error: rootfs .*\/missing\/\.\.\/rootfs does not exist$/, mount: false })
})

t.test('root.path climbing out of the bundle to a host dir: acted on where the runtime said (trusted), nowhere else', async t => {
  const { bundle, rootfs, bait } = setup(t)
  const other = scratchBundle(t)
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: relative(bundle, other.rootfs) } }))
  check(t, bundle, other.rootfs, [bait, rootfs], { status: 0, mount: true })
})

/** mkdir a chain of `names` under `dir` through fds, so the full path may exceed PATH_MAX. */
const deepDirs = (dir: string, names: string[]) => {
  let fd = openSync(dir, 'r')
  for (const n of names) {
    mkdirSync(`/proc/self/fd/${fd}/${n}`)
    const next = openSync(`/proc/self/fd/${fd}/${n}`, 'r')
    closeSync(fd)
    fd = next
  }
  closeSync(fd)
  return join(dir, ...names)
}

t.test('a rootfs 300 directories deep: mounted', async t => {
  const { bundle, rootfs, bait } = setup(t)
  const deep = deepDirs(rootfs, Array.from({ length: 300 }, () => 'd'))
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: deep } }))
  check(t, bundle, deep, [bait], { status: 0, mount: true })
})

t.test('a rootfs path of 255-byte names, ~3,900 bytes long: mounted', async t => {
  const { bundle, rootfs, bait } = setup(t)
  const long = deepDirs(rootfs, Array.from({ length: 15 }, (_, k) => String(k % 10).repeat(255)))
  t.ok(long.length > 3800 && long.length < 4000, `path length ${long.length}`)
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: long } }))
  check(t, bundle, long, [bait], { status: 0, mount: true })
})

t.test('a rootfs path longer than PATH_MAX: a clean refusal', async t => {
  const { bundle, rootfs, bait } = setup(t)
  const long = deepDirs(rootfs, Array.from({ length: 17 }, () => 'x'.repeat(255)))
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: long } }))
  check(t, bundle, long, [bait], { status: 1, message: /^nvidia-procfs-hook: error: cannot open rootfs .*: ENAMETOOLONG$/, mount: false })
})

t.test('a component name of 256 bytes in root.path: a clean refusal', async t => {
  const { bundle, rootfs, bait } = setup(t)
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'y'.repeat(256) } }))
  check(t, bundle, rootfs, [bait], { status: 1, message: /^nvidia-procfs-hook: error: cannot open rootfs .*: ENAMETOOLONG$/, mount: false })
})

t.test('a rootfs path with a space, a tab, a newline and a backslash (mountinfo escapes them): mounted and verified', async t => {
  const { bundle, bait } = setup(t)
  const odd = join(bundle, 'odd \t\n\\ root')
  mkdirSync(odd)
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: odd } }))
  check(t, bundle, odd, [bait], { status: 0, mount: true })
  // scratch's teardown matches raw mountinfo text, which escapes these bytes.
  for (const m of mountsIn(odd)) sh('/usr/bin/umount', '-l', m.mountPoint)
})

t.test('the rootfs does not exist: refused', async t => {
  const { bundle, rootfs, bait } = setup(t, 'missing')
  check(t, bundle, join(bundle, 'missing'), [bait, rootfs], { status: 1, message: /^nvidia-procfs-hook: error: rootfs .*\/missing does not exist$/, mount: false })
})

t.test('the rootfs is a regular file: refused', async t => {
  const { bundle, bait } = setup(t, 'rootfs-file')
  writeFileSync(join(bundle, 'rootfs-file'), '')
  check(t, bundle, join(bundle, 'rootfs-file'), [bait], { status: 1, message: /^nvidia-procfs-hook: error: rootfs .*\/rootfs-file is not a directory$/, mount: false })
})

t.test('the rootfs is a symlink to a fifo: refused, never blocks', async t => {
  const { bundle, bait } = setup(t, 'rootfs-fifo')
  sh('/usr/bin/mkfifo', join(bundle, 'fifo'))
  symlinkSync('fifo', join(bundle, 'rootfs-fifo'))
  check(t, bundle, join(bundle, 'rootfs-fifo'), [bait], { status: 1, message: /is not a directory$/, mount: false })
})

t.test('a second run on a mounted rootfs: skipped, still one mount', async t => {
  const { bundle, rootfs, bait } = setup(t)
  check(t, bundle, rootfs, [bait], { status: 0, mount: true })
  check(t, bundle, rootfs, [bait], { status: 0, mount: false })
})
