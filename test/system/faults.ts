// Faults around the mount: no CAP_SYS_ADMIN, a read-only rootfs, a seal or
// verify that goes wrong, a decoy at the source, SIGKILL at each step, a hung
// bind, no util-linux at all; and the repair of a read-write bind a killed
// run left. The executable's own calls are tampered with by strace; the
// in-process tests drive the util-linux path (Node without node:ffi).
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
// Before the re-run: tap's default 30 s would kill the outer process mid-suite.
t.setTimeout(180_000)
enterPrivateMountNamespace()

import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { closeSync, existsSync, linkSync, lstatSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmSync, statSync, symlinkSync } from 'node:fs'
import { createServer } from 'node:net'
import { builtinModules } from 'node:module'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { assertContained, assertOneLine, assertOurMount, HOOK, HOOK_ENV, mountsIn, snapshot, SOURCE, type HookRun } from '../harness/containment'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { faultWrap, type FaultMode } from '../harness/fault-tools'
import { processInOwnMountNamespace } from '../harness/processes'
import { scratchBundle } from '../harness/scratch'
import { FOREIGN } from '../harness/target'
import { describeKind, openEntry, openPath } from '../../src/in-root'
import { provideProcfs } from '../../src/provide-procfs'
import { lockExclusive } from '../../src/lock'
import { CHILD_DIR, CHILD_FD, mountApi, runUtil, type UtilRunner } from '../../src/mount'

mountFakeDriver()
t.teardown(unmountFakeDriver)
const decoyRoot = scratchBundle(t)

const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' })
const target = (rootfs: string) => join(rootfs, 'proc/driver/nvidia')
const rwBindOfSource = (rootfs: string) => {
  mkdirSync(target(rootfs), { recursive: true })
  sh('/usr/bin/mount', '--bind', SOURCE, target(rootfs))
}
const isRemount = (args: string[]) => args.some(a => a.startsWith('remount,'))
// The step that seals a new bind: the remount with classic mount(2); the
// bind itself, attached read-only, with libmount's fd-based API.
const API = mountApi()
const isSealing = (args: string[]) => (API === 'classic' ? isRemount(args) : args.includes('--bind'))
/** What a failing seal leaves: with the fd-based API the bind is attached before mount(8) fails. */
const failSeal: UtilRunner = (tool, args, fd) => {
  if (API === 'fd-based') runUtil(tool, args, fd)
  throw new Error(`injected ${tool} failure`)
}

/** Nothing writable mounted under the rootfs: every mount there is our read-only bind. */
const nothingWritable = (t: Test, rootfs: string) => {
  const ms = mountsIn(rootfs)
  for (const m of ms) t.ok(m.options.includes('ro'), `${m.mountPoint} is read-only`)
  return ms
}

t.test('in-process: repair, lock and verify branches', async t => {
  t.test('a read-write bind of the source (a run killed before its remount) is repaired', async t => {
    const { rootfs } = scratchBundle(t)
    rwBindOfSource(rootfs)
    t.match(provideProcfs({ rootfs, source: SOURCE }), { action: 'repaired', reason: `remounted the read-write bind of ${SOURCE} at ${target(rootfs)} read-only` })
    const ms = mountsIn(rootfs)
    t.equal(ms.length, 1, 'still one mount')
    if (ms[0]) assertOurMount(t, ms[0], rootfs)
  })

  t.test('dry run on such a bind plans the remount and touches nothing', async t => {
    const { rootfs } = scratchBundle(t)
    rwBindOfSource(rootfs)
    t.same(provideProcfs({ rootfs, source: SOURCE, dryRun: true }), {
      action: 'planned',
      reason: 'repair needed',
      plan: [`remount the read-write bind of ${SOURCE} at ${target(rootfs)} read-only (ro,nosuid,nodev,noexec)`],
    })
    t.same(mountsIn(rootfs)[0]?.options.includes('rw'), true, 'still read-write')
  })

  t.test('a read-only bind of the source already there: skipped', async t => {
    const { rootfs } = scratchBundle(t)
    t.equal(provideProcfs({ rootfs, source: SOURCE }).action, 'mounted')
    t.match(provideProcfs({ rootfs, source: SOURCE }), { action: 'skipped', reason: /params already exists \(a read-only bind of \/proc\/driver\/nvidia\)$/ })
  })

  t.test('a repair whose remount fails takes the writable bind away', async t => {
    const { rootfs } = scratchBundle(t)
    rwBindOfSource(rootfs)
    const run: UtilRunner = (tool, args, fd) => {
      if (isRemount(args)) throw new Error('injected remount failure')
      return runUtil(tool, args, fd)
    }
    t.throws(() => provideProcfs({ rootfs, source: SOURCE, run }), /^injected remount failure$/)
    t.same(mountsIn(rootfs), [], 'no mount left')
  })

  t.test('a repair whose remount and unmount both fail says so', async t => {
    const { rootfs } = scratchBundle(t)
    rwBindOfSource(rootfs)
    const run: UtilRunner = (tool, args, fd) => {
      if (isRemount(args) || tool === 'umount') throw new Error(`injected ${tool} failure`)
      return runUtil(tool, args, fd)
    }
    t.throws(() => provideProcfs({ rootfs, source: SOURCE, run }), /^injected mount failure; rollback incomplete: unmount failed: injected umount failure$/)
  })

  t.test('a mount that vanishes before the verify is rolled back', { skip: API === 'fd-based' && 'the fd-based bind is verified with no step in between' }, async t => {
    const { rootfs } = scratchBundle(t)
    const run: UtilRunner = (tool, args, fd) => {
      if (isRemount(args)) return runUtil('umount', ['--no-canonicalize', '--lazy', CHILD_FD], fd)
      return runUtil(tool, args, fd)
    }
    t.throws(() => provideProcfs({ rootfs, source: SOURCE, run }), /^mount \d+ at .*\/proc\/driver\/nvidia is missing from mountinfo$/)
    t.same(mountsIn(rootfs), [])
    t.notOk(existsSync(join(rootfs, 'proc')), 'created dirs removed')
  })

  t.test('a bind that mounts nothing: refused, rolled back', async t => {
    const { rootfs } = scratchBundle(t)
    const run: UtilRunner = (tool, args, fd) => (args.includes('--bind') ? '' : runUtil(tool, args, fd))
    t.throws(() => provideProcfs({ rootfs, source: SOURCE, run }), new RegExp(`^after the bind, nothing is mounted on ${target(rootfs)}$`))
    t.same(readdirSync(rootfs), [], 'created dirs removed')
  })

  t.test('the directory renamed between the walk and the bind: the mount lands on it, is found there, and sealed', async t => {
    const { rootfs } = scratchBundle(t)
    // (Once mounted on, it cannot be renamed from this namespace: EBUSY.)
    const run: UtilRunner = (tool, args, fd) => {
      if (args.includes('--bind')) renameSync(target(rootfs), target(rootfs) + '.moved')
      return runUtil(tool, args, fd)
    }
    t.match(provideProcfs({ rootfs, source: SOURCE, run }), { action: 'mounted' })
    const ms = mountsIn(rootfs)
    t.same(ms.map(m => m.mountPoint), [target(rootfs) + '.moved'], 'one mount, on the checked directory')
    t.ok(ms[0]?.options.includes('ro'), 'read-only')
  })

  t.test('rollback leaves alone a directory that took the name of one it created', async t => {
    const { rootfs } = scratchBundle(t)
    const run: UtilRunner = (tool, args, fd) => {
      if (!args.includes('--bind')) return runUtil(tool, args, fd)
      renameSync(target(rootfs), target(rootfs) + '.moved')
      mkdirSync(target(rootfs))
      throw new Error('injected bind failure')
    }
    t.throws(() => provideProcfs({ rootfs, source: SOURCE, run }), /^injected bind failure; rollback incomplete: cannot remove .*\/proc\/driver: ENOTEMPTY; cannot remove .*\/proc: ENOTEMPTY$/)
    t.ok(existsSync(target(rootfs)), 'the directory now called nvidia is not ours: left')
    t.ok(existsSync(target(rootfs) + '.moved'), 'ours, under a name we did not give it, is left too (empty, in the rootfs)')
    t.same(mountsIn(rootfs), [])
  })

  t.test('a bind that shows something else: refused, rolled back', async t => {
    const { rootfs } = scratchBundle(t)
    const run: UtilRunner = (tool, args, fd) =>
      runUtil(tool, args.includes('--bind') ? ['--no-canonicalize', '--bind', decoyRoot.rootfs, CHILD_DIR] : args, fd)
    t.throws(() => provideProcfs({ rootfs, source: SOURCE, run }), new RegExp(`^after the bind, ${target(rootfs)} is not ${SOURCE}$`))
    t.same(mountsIn(rootfs), [])
    t.same(readdirSync(rootfs), [])
  })

  t.test('a rollback whose unmount fails says so, and what it could not undo', async t => {
    const { rootfs } = scratchBundle(t)
    const run: UtilRunner = (tool, args, fd) => {
      if (tool === 'umount') throw new Error(`injected ${tool} failure`)
      return isSealing(args) ? failSeal(tool, args, fd) : runUtil(tool, args, fd)
    }
    t.throws(
      () => provideProcfs({ rootfs, source: SOURCE, run }),
      /^injected mount failure; rollback incomplete: unmount failed: injected umount failure; cannot remove .*\/proc\/driver: ENOTEMPTY; cannot remove .*\/proc: ENOTEMPTY$/,
    )
  })

  t.test('the rootfs on a shared mount with a peer in another namespace: refused before anything is made', async t => {
    const { rootfs } = scratchBundle(t)
    sh('/usr/bin/mount', '--bind', rootfs, rootfs)
    sh('/usr/bin/mount', '--make-shared', rootfs)
    const pid = await processInOwnMountNamespace(t, 'unchanged')
    t.throws(() => provideProcfs({ rootfs, source: SOURCE }), new RegExp(`propagates to the mount namespace of pid ${pid} \\(at ${rootfs}\\): a mount there would appear there too; refusing$`))
    t.same(readdirSync(rootfs), [])
  })

  t.test('in-process propagation: a slave elsewhere, a shared slave here relaying out, local peers only', async t => {
    const shared = () => {
      const { rootfs, bundle } = scratchBundle(t)
      sh('/usr/bin/mount', '--bind', rootfs, rootfs)
      sh('/usr/bin/mount', '--make-shared', rootfs)
      return { rootfs, bundle }
    }
    const slaveThere = shared()
    const pid1 = await processInOwnMountNamespace(t, 'unchanged')
    sh('/usr/bin/nsenter', `--mount=/proc/${pid1}/ns/mnt`, '/usr/bin/mount', '--make-slave', slaveThere.rootfs)
    t.throws(() => provideProcfs({ rootfs: slaveThere.rootfs, source: SOURCE }), new RegExp(`propagates to the mount namespace of pid ${pid1} \\(at ${slaveThere.rootfs}\\)`))
    sh('/usr/bin/nsenter', `--mount=/proc/${pid1}/ns/mnt`, '/usr/bin/mount', '--make-private', slaveThere.rootfs)

    // Transitively: here a relay is a slave of our group and shared in its
    // own; there, the relay's copy is only a slave of the relay's group.
    const relayed = shared()
    const relay = join(relayed.bundle, 'relay')
    mkdirSync(relay)
    sh('/usr/bin/mount', '--bind', relayed.rootfs, relay)
    sh('/usr/bin/mount', '--make-slave', relay)
    sh('/usr/bin/mount', '--make-shared', relay)
    const pid2 = await processInOwnMountNamespace(t, 'unchanged')
    sh('/usr/bin/nsenter', `--mount=/proc/${pid2}/ns/mnt`, '/usr/bin/mount', '--make-private', relayed.rootfs)
    sh('/usr/bin/nsenter', `--mount=/proc/${pid2}/ns/mnt`, '/usr/bin/mount', '--make-slave', relay)
    t.throws(() => provideProcfs({ rootfs: relayed.rootfs, source: SOURCE }), new RegExp(`propagates to the mount namespace of pid ${pid2} \\(at ${relay}\\)`))

    const local = shared()
    const peer = join(local.bundle, 'peer')
    mkdirSync(peer)
    sh('/usr/bin/mount', '--bind', local.rootfs, peer)
    t.match(provideProcfs({ rootfs: local.rootfs, source: SOURCE }), { action: 'mounted' })
  })

  t.test('a namespace kept only by a bind of its nsfs file cannot be inspected: counted as reached', async t => {
    const { rootfs, bundle } = scratchBundle(t)
    sh('/usr/bin/mount', '--bind', rootfs, rootfs)
    sh('/usr/bin/mount', '--make-shared', rootfs)
    const pin = join(bundle, 'ns')
    sh('/usr/bin/touch', pin)
    // The kernel binds a mount namespace's file only into an older namespace
    // (mnt_ns_loop), and this one's namespace ids do not always follow
    // creation order across CPUs (about 1 run in 10 refused every try with
    // EINVAL, from a plain shell too): make the namespace on each CPU in turn.
    let pid = 0
    for (let i = 0; ; i++) {
      pid = await processInOwnMountNamespace(t, 'unchanged', i % availableParallelism())
      try {
        sh('/usr/bin/mount', '--bind', `/proc/${pid}/ns/mnt`, pin)
        break
      } catch (er) {
        if (i === 9) throw er
        process.kill(pid, 'SIGKILL')
      }
    }
    t.teardown(() => sh('/usr/bin/umount', pin))
    process.kill(pid, 'SIGKILL')
    for (let i = 0; i < 200 && existsSync(`/proc/${pid}`); i++) await new Promise(r => setTimeout(r, 5))
    t.throws(() => provideProcfs({ rootfs, source: SOURCE }), new RegExp(`propagates to a mount namespace that no process shows, kept by ${pin}: .*; refusing$`))
  })

  t.test('a host directory bound over proc/driver: refused, nothing created in it', async t => {
    const { rootfs, bundle } = scratchBundle(t)
    mkdirSync(join(rootfs, 'proc/driver'), { recursive: true })
    const host = join(bundle, 'host')
    mkdirSync(host)
    sh('/usr/bin/mount', '--bind', host, join(rootfs, 'proc/driver'))
    t.throws(() => provideProcfs({ rootfs, source: SOURCE }), new RegExp(`^${rootfs}/proc/driver is a mount point, not part of the rootfs; refusing to create or mount there$`))
    t.same(readdirSync(host), [])
  })

  t.test('a remount that claims success and does nothing: the verify refuses, rolled back', async t => {
    const { rootfs } = scratchBundle(t)
    // With the fd-based API: a bind whose options were dropped, read-write.
    const run: UtilRunner = (tool, args, fd) =>
      !isSealing(args) ? runUtil(tool, args, fd) : API === 'classic' ? '' : runUtil(tool, args.filter((a, i) => a !== '-o' && args[i - 1] !== '-o'), fd)
    t.throws(() => provideProcfs({ rootfs, source: SOURCE, run }), new RegExp(`^mount at .* lacks ro,nosuid,nodev,noexec after ${API === 'classic' ? 'remount' : 'the bind'}$`))
    t.same(mountsIn(rootfs), [])
    t.same(readdirSync(rootfs), [])
  })

  t.test('proc is a procfs that shows the driver: skipped quietly', async t => {
    const { rootfs } = scratchBundle(t)
    mkdirSync(join(rootfs, 'proc'))
    sh('/usr/bin/mount', '--rbind', '/proc', join(rootfs, 'proc'))
    sh('/usr/bin/mount', '--make-rprivate', join(rootfs, 'proc'))
    t.same(provideProcfs({ rootfs, source: SOURCE }), { action: 'skipped', reason: `${rootfs}/proc is a procfs that already shows driver/nvidia`, warning: false })
  })

  // A device node cannot be made in the user namespace of test/system/arm64.ts;
  // this case is in-process (no executable), so the host run is the one that counts.
  const noMknod = FOREIGN && 'mknod is not permitted in a user namespace (the host run has this case)'
  t.test('in-root: every kind of entry is named; errors other than ENOENT are errors', { skip: noMknod }, async t => {
    const { bundle } = scratchBundle(t)
    const at = (n: string) => join(bundle, n)
    symlinkSync('x', at('link'))
    sh('/usr/bin/mkfifo', at('fifo'))
    sh('/usr/bin/mknod', at('blk'), 'b', '7', '0')
    await new Promise<void>(done => {
      const server = createServer().listen(at('sock.tmp'), () => {
        linkSync(at('sock.tmp'), at('sock'))
        server.close(() => done())
      })
    })
    const kinds = ['rootfs', 'link', 'config.json', 'fifo', 'sock', 'blk'].map(n => describeKind(lstatSync(at(n))))
    t.same([...kinds, describeKind(lstatSync('/dev/null'))], ['a directory', 'a symlink', 'a regular file', 'a fifo', 'a socket', 'a block device', 'a character device'])
    const file = openSync(at('config.json'), 'r')
    t.teardown(() => closeSync(file))
    t.throws(() => openEntry(file, 'x'), { code: 'ENOTDIR' })
  })

  t.test('a read-only rootfs: mkdir fails with EROFS, refused', async t => {
    const { rootfs } = scratchBundle(t)
    sh('/usr/bin/mount', '--bind', rootfs, rootfs)
    sh('/usr/bin/mount', '-o', 'remount,bind,ro', rootfs)
    t.throws(() => provideProcfs({ rootfs, source: SOURCE }), new RegExp(`^cannot create ${rootfs}/proc: EROFS`))
  })

  t.test('openPath: a missing component or a non-directory on the way is "not there"; other errors are errors', async t => {
    t.equal(openPath('/nonexistent-nph/x'), undefined)
    t.equal(openPath(SOURCE + '/params/x'), undefined)
    t.throws(() => openPath('/' + 'x'.repeat(5000)), { code: 'ENAMETOOLONG' })
  })

  t.test('rollback when a directory it created is already gone: the rest is removed', async t => {
    const { rootfs } = scratchBundle(t)
    const run: UtilRunner = (tool, args, fd) => {
      if (!args.includes('--bind')) return runUtil(tool, args, fd)
      rmSync(target(rootfs), { recursive: true })
      throw new Error('injected bind failure')
    }
    t.throws(() => provideProcfs({ rootfs, source: SOURCE, run }), /^injected bind failure$/)
    t.same(readdirSync(rootfs), [])
  })

  t.test('a lock that cannot be taken: refused before anything is created', async t => {
    const { rootfs } = scratchBundle(t)
    const lock = () => {
      throw new Error('another run held the lock for 10 s')
    }
    t.throws(() => provideProcfs({ rootfs, source: SOURCE, lock }), new RegExp(`^cannot lock ${rootfs} against a concurrent run: another run held`))
    t.same(readdirSync(rootfs), [])
  })

  t.test('a run that finished while we waited for the lock: the second look skips', async t => {
    const { rootfs } = scratchBundle(t)
    const lock = (fd: number) => {
      // Another run gets in between our first look and our lock.
      t.equal(provideProcfs({ rootfs, source: SOURCE }).action, 'mounted', 'the other run mounts')
      lockExclusive(runUtil, fd)
    }
    t.match(provideProcfs({ rootfs, source: SOURCE, lock }), { action: 'skipped', reason: /params already exists/ })
    t.equal(mountsIn(rootfs).length, 1, 'one mount')
  })

  const ffi = builtinModules.includes('node:ffi') && 'this Node has node:ffi: the lock is flock(2) in-process, as in the executable'
  t.test('without node:ffi, the lock is util-linux flock(1) on the inherited fd', { skip: ffi }, async t => {
    const { rootfs } = scratchBundle(t)
    const tools: string[] = []
    const run: UtilRunner = (tool, args, fd) => (tools.push(tool), runUtil(tool, args, fd))
    t.match(provideProcfs({ rootfs, source: SOURCE, run }), { action: 'mounted' })
    t.same(tools[0], 'flock', 'flock(1) first, on fd 3')
  })

  t.test('a run waits for the lock another holds, then finds the work done', async t => {
    const { rootfs } = scratchBundle(t)
    mkdirSync(target(rootfs), { recursive: true })
    // The holder does what another run would: lock, bind, remount read-only.
    const T = target(rootfs)
    const holder = spawn(
      '/usr/bin/flock',
      ['--exclusive', rootfs, '/bin/sh', '-c', `echo locked; sleep 0.8; mount --bind ${SOURCE} ${T} && mount -o remount,bind,ro,nosuid,nodev,noexec ${T}`],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    )
    await new Promise(done => holder.stdout.once('data', done))
    const began = Date.now()
    t.match(provideProcfs({ rootfs, source: SOURCE }), { action: 'skipped', reason: /a read-only bind/ }, 'the second look sees the holder\'s mount')
    const waited = Date.now() - began
    t.ok(waited >= 500, `waited ${waited} ms for the lock`)
    await new Promise(done => holder.on('close', done))
    t.equal(mountsIn(rootfs).length, 1, 'one mount')
  })

  t.test('looking in from another mount namespace: a bind there cannot be checked from here, so a mount is "needed"', async t => {
    const { rootfs } = scratchBundle(t)
    mkdirSync(target(rootfs), { recursive: true })
    const other = spawn('/usr/bin/unshare', ['-m', '--propagation', 'private', '/bin/sh', '-c', `mount -o ro --bind ${SOURCE} ${target(rootfs)} && echo ready && exec sleep 30`], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    t.teardown(() => other.kill('SIGKILL'))
    await new Promise(done => other.stdout.once('data', done))
    t.same(provideProcfs({ rootfs: `/proc/${other.pid}/root${rootfs}`, source: SOURCE, inspectOnly: true }), { action: 'planned', reason: 'mount needed', plan: [] })
  })
})

/** Runs the executable standalone on `rootfs` under fault `mode`. */
const hookUnder = (mode: FaultMode, rootfs: string, wrap: string[] = faultWrap(mode, API)): HookRun => {
  const [cmd, ...pre] = [...wrap, HOOK]
  const r = spawnSync(cmd as string, [...pre, '--rootfs', rootfs], { env: HOOK_ENV, encoding: 'utf8', timeout: 30_000 })
  if (r.error) throw r.error
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
}

/** Polls `ready` every 10 ms, up to 10 s; false if it never held. */
const until = async (ready: () => boolean) => {
  for (let i = 0; i < 1000; i++) {
    if (ready()) return true
    await new Promise(r => setTimeout(r, 10))
  }
  return false
}

/**
 * Starts the executable on `rootfs` under fault `mode` (a held call), in a
 * process group of its own with strace, so both can be killed at once,
 * before strace could speak. `pid` is the hook's (strace's one child).
 */
const hookHeld = (mode: FaultMode, rootfs: string) => {
  const [cmd, ...pre] = [...faultWrap(mode, API), HOOK]
  const child = spawn(cmd as string, [...pre, '--rootfs', rootfs], { env: HOOK_ENV, stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let stdout = ''
  let stderr = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
  const closed = new Promise<HookRun>(done => child.on('close', (status, signal) => done({ status, signal, stdout, stderr })))
  const pid = () => Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(' ')[0])
  return { child, closed, pid, kill: () => process.kill(-(child.pid as number), 'SIGKILL') }
}

/** The FLOCK WRITE lines of /proc/locks on `path` (dev as major:minor in hex, inode). */
const locksOn = (path: string) => {
  const st = statSync(path)
  const hex = (n: number) => n.toString(16).padStart(2, '0')
  const on = `${hex((st.dev >> 8) & 0xfff)}:${hex((st.dev & 0xff) | ((st.dev >> 12) & 0xfff00))}:${st.ino}`
  return readFileSync('/proc/locks', 'utf8')
    .split('\n')
    .filter(l => new RegExp(`^\\d+: FLOCK\\s+ADVISORY\\s+WRITE \\d+ ${on} `).test(l))
}

/**
 * A decoy where the source was, between the hook's look at the source and
 * its bind: strace holds the rootfs lock's flock(2) return for 2 s, and once
 * the lock shows in /proc/locks a decoy directory is bound over the source.
 */
const hookWithDecoy = async (rootfs: string, decoy: string): Promise<HookRun> => {
  const held = hookHeld('bind-binds-a-decoy', rootfs)
  const seen = await until(() => locksOn(rootfs).length > 0)
  if (seen) sh('/usr/bin/mount', '--bind', decoy, SOURCE)
  const run = await held.closed
  if (seen) sh('/usr/bin/umount', SOURCE)
  if (!seen) throw new Error(`the hook never took the lock: ${run.stderr}`)
  return run
}

interface FaultCase {
  name: string
  mode: FaultMode
  wrap?: (rootfs: string) => string[]
  prepare?: (rootfs: string) => void
  message: RegExp
}

const NOT_SOURCE = /^nvidia-procfs-hook: error: after the bind, .*\/proc\/driver\/nvidia is not \/proc\/driver\/nvidia$/
const FAULTS: FaultCase[] = [
  {
    name: 'no CAP_SYS_ADMIN (the bind fails with EPERM)',
    mode: 'pass',
    wrap: () => ['/usr/bin/setpriv', '--inh-caps=-sys_admin', '--bounding-set=-sys_admin', '--'],
    message:
      API === 'classic'
        ? /^nvidia-procfs-hook: error: cannot bind \/proc\/driver\/nvidia onto .*\/rootfs\/proc\/driver\/nvidia: mount\(2\) MS_BIND: EPERM$/
        : /^nvidia-procfs-hook: error: cannot bind \/proc\/driver\/nvidia onto .*\/rootfs\/proc\/driver\/nvidia: open_tree\(2\): EPERM$/,
  },
  {
    name: 'a read-only rootfs (mkdir fails with EROFS)',
    mode: 'pass',
    prepare: rootfs => {
      sh('/usr/bin/mount', '--bind', rootfs, rootfs)
      sh('/usr/bin/mount', '-o', 'remount,bind,ro', rootfs)
    },
    message: /^nvidia-procfs-hook: error: cannot create .*\/rootfs\/proc: EROFS$/,
  },
  {
    name: 'the seal fails (classic: the remount, once bound; fd-based: mount_setattr, before anything is attached)',
    mode: 'remount-fails',
    message:
      API === 'classic'
        ? /^nvidia-procfs-hook: error: mount\(2\) remount,bind,ro,nosuid,nodev,noexec \/proc\/self\/fd\/\d+ failed: EIO$/
        : /^nvidia-procfs-hook: error: cannot bind \/proc\/driver\/nvidia onto .*: mount_setattr\(2\) ro,nosuid,nodev,noexec: EIO$/,
  },
  { name: 'the verify disagrees (the seal claims success, does nothing)', mode: 'remount-does-nothing', message: /^nvidia-procfs-hook: error: mount at .* lacks ro,nosuid,nodev,noexec after (remount|the bind)$/ },
]

const runFault = async (f: FaultCase, rootfs: string) => hookUnder(f.mode, rootfs, f.wrap?.(rootfs))

for (const f of [...FAULTS, { name: 'the bind shows something other than the source (a decoy bound over it after the look)', mode: 'bind-binds-a-decoy' as const, message: NOT_SOURCE }]) {
  t.test(`fault: ${f.name}: exit 1, one line, nothing left; a clean rerun mounts`, async t => {
    const { rootfs, bundle } = scratchBundle(t)
    f.prepare?.(rootfs)
    const before = snapshot(rootfs, [bundle + '/config.json', decoyRoot.rootfs, SOURCE], ['/'])
    const run = f.mode === 'bind-binds-a-decoy' ? await hookWithDecoy(rootfs, decoyRoot.rootfs) : await runFault(f, rootfs)
    t.equal(run.status, 1, 'exit 1')
    assertOneLine(t, run, f.message)
    assertContained(t, before, false)
    t.same(readdirSync(rootfs), [], 'nothing created, or all of it removed')
    if (f.prepare) return
    const again = hookUnder('pass', rootfs)
    t.equal(again.status, 0, 'rerun exits 0')
    assertOneLine(t, again, /^nvidia-procfs-hook: mounted: bound /, 'rerun')
    assertContained(t, before, true)
  })
}

t.test('the mount path needs no util-linux: with /usr/bin (= /bin here) empty, the executable still mounts', async t => {
  const { rootfs, bundle } = scratchBundle(t)
  const before = snapshot(rootfs, [bundle + '/config.json', SOURCE], ['/'])
  const run = hookUnder('pass', rootfs, ['/usr/bin/unshare', '-m', '--propagation', 'private', '/bin/sh', '-c', 'mount -t tmpfs empty /usr/bin && exec "$0" "$@"'])
  t.equal(run.status, 0, run.stderr)
  assertOneLine(t, run, /^nvidia-procfs-hook: mounted: bound /)
  // The mount was made in the child namespace, which died with it: nothing here.
  assertContained(t, before, false)
})

const LEFT_READ_ONLY = /^nvidia-procfs-hook: skipped: .*params already exists \(a read-only bind of \/proc\/driver\/nvidia\)$/
const REPAIRED = /^nvidia-procfs-hook: repaired: remounted the read-write bind of \/proc\/driver\/nvidia at .* read-only$/
const target3 = (rootfs: string) => join(rootfs, 'proc/driver/nvidia')
/**
 * Each kill: where it lands (the call strace holds, and what shows once the
 * hook is there), what it leaves, and what the rerun says. With the fd-based
 * API no bind is ever attached read-write unless the seal was tampered with
 * (kill-in-rollback: mount_setattr did nothing, the verify caught it).
 */
const KILLS: { mode: FaultMode; ready?: (rootfs: string) => boolean; left: string; rerun: RegExp }[] = [
  { mode: 'kill-before-bind', ready: rootfs => existsSync(target3(rootfs)), left: 'empty directories', rerun: /^nvidia-procfs-hook: mounted: / },
  API === 'classic'
    ? { mode: 'kill-after-bind', ready: rootfs => mountsIn(rootfs).length === 1, left: 'a read-write bind', rerun: REPAIRED }
    : { mode: 'kill-after-bind', ready: rootfs => mountsIn(rootfs).length === 1, left: 'a read-only bind', rerun: LEFT_READ_ONLY },
  { mode: 'kill-after-remount', ready: rootfs => mountsIn(rootfs).some(m => m.options.includes('ro')), left: 'a read-only bind', rerun: LEFT_READ_ONLY },
  { mode: 'kill-in-rollback', left: 'a read-write bind', rerun: REPAIRED },
]

for (const k of KILLS) {
  t.test(`SIGKILL (${k.mode}): leaves ${k.left}; the rerun, not held up by a stale lock, ends with one read-only mount`, async t => {
    const { rootfs, bundle } = scratchBundle(t)
    const before = snapshot(rootfs, [bundle + '/config.json', SOURCE], ['/'])
    let killed: HookRun
    let lockedBy: { pid: number; locks: string[] } | undefined
    if (k.ready) {
      const held = hookHeld(k.mode, rootfs)
      const ready = k.ready
      t.ok(await until(() => ready(rootfs)), 'the hook reached the held call')
      if (k.mode === 'kill-before-bind') lockedBy = { pid: held.pid(), locks: locksOn(rootfs) }
      held.kill()
      killed = await held.closed
    } else killed = hookUnder(k.mode, rootfs)
    t.equal(killed.signal, 'SIGKILL', 'killed')
    t.equal(killed.stderr, '', 'said nothing')
    if (lockedBy) {
      const { pid, locks } = lockedBy
      t.ok(
        locks.some(l => new RegExp(`^\\d+: FLOCK\\s+ADVISORY\\s+WRITE ${pid} `).test(l)),
        `the killed run (pid ${pid}) held the rootfs lock: ${locks.join('; ')}`,
      )
    }
    const left = mountsIn(rootfs)
    if (k.left === 'a read-write bind') t.ok(left.length === 1 && left[0]?.options.includes('rw'), 'the gap is real: a writable bind is left')
    else if (k.left === 'a read-only bind') t.ok(left.length === 1 && left[0]?.options.includes('ro'), 'a read-only bind is left')
    else t.same(left, [], 'no mount left')
    t.ok(existsSync(join(rootfs, 'proc')), 'directories: left')
    const began = Date.now()
    const again = hookUnder('pass', rootfs)
    t.ok(Date.now() - began < 5000, 'no stale lock')
    t.equal(again.status, 0, 'rerun exits 0')
    assertOneLine(t, again, k.rerun, 'rerun')
    assertContained(t, before, true)
    nothingWritable(t, rootfs)
  })
}

const closeTimes = (child: ReturnType<typeof spawn>) => {
  let exited = 0
  child.on('exit', () => (exited = Date.now()))
  return new Promise<{ exited: number; closed: number }>(done => child.on('close', () => done({ exited, closed: Date.now() })))
}

t.test('a normal run closes stdout and stderr when it exits (runc waits for EOF)', async t => {
  const { rootfs } = scratchBundle(t)
  const child = spawn(HOOK, ['--rootfs', rootfs], { env: HOOK_ENV, stdio: ['ignore', 'pipe', 'pipe'] })
  child.stdout?.resume()
  child.stderr?.resume()
  const { exited, closed } = await closeTimes(child)
  t.ok(closed - exited < 500, `EOF ${closed - exited} ms after exit`)
  t.equal(mountsIn(rootfs).length, 1)
})

t.test('killed at a timeout while its bind hangs: pipes close at once, the lock goes with it', async t => {
  const { rootfs } = scratchBundle(t)
  const held = hookHeld('hang-in-bind', rootfs)
  held.child.stdout.resume()
  held.child.stderr.resume()
  const done = closeTimes(held.child)
  t.ok(await until(() => existsSync(target3(rootfs)) && locksOn(rootfs).length > 0), 'the hook holds the lock, in its bind')
  const killedAt = Date.now()
  held.kill()
  const { closed } = await done
  t.ok(closed - killedAt < 1000, `EOF ${closed - killedAt} ms after the kill`)
  const again = hookUnder('pass', rootfs)
  t.equal(again.status, 0, 'a rerun gets the lock')
  nothingWritable(t, rootfs)
  t.equal(mountsIn(rootfs).length, 1)
})
