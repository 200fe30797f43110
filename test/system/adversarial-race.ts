// The image races the hook: a process flips proc, driver or nvidia between
// the real directory and a symlink out of the rootfs while the executable
// runs. The mount must land on the directory the hook checked, or nowhere.
// Also: mount propagation that would carry a mount out of the namespace.
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
// Before the re-run: tap's default 30 s would kill the outer process mid-suite.
t.setTimeout(300_000)
enterPrivateMountNamespace()

import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { mkdirSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { assertContained, assertNothingOutside, assertOneLine, gvisorState, HOOK, HOOK_ENV, mountsIn, runHook, snapshot, SOURCE } from '../harness/containment'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { processInOwnMountNamespace } from '../harness/processes'
import { scratchBundle } from '../harness/scratch'
import { REQUIRED_OPTIONS } from '../../src/mountinfo'

mountFakeDriver()
t.teardown(unmountFakeDriver)

const sh = (cmd: string, ...args: string[]) => execFileSync(cmd, args, { stdio: 'pipe' })
const ROUNDS = Number(process.env.NPH_RACE_ROUNDS ?? 10)
const RACER = join(__dirname, '../harness/racer.mjs')
const COMPONENTS = ['proc', 'driver', 'nvidia'] as const

const tally: Record<string, number> = {}
const ON_CHECKED_DIR = new RegExp(`^${COMPONENTS.map(c => `(${c}|\\.${c}\\.real|\\.${c}\\.link)`).join('/')}$`)

for (const [i, name] of COMPONENTS.entries()) {
  t.test(`${name} flipped to a symlink out of the rootfs in a loop, ${ROUNDS} runs: the mount lands on the checked directory or nowhere`, async t => {
    for (let round = 0; round < ROUNDS; round++) {
      const { bundle, rootfs } = scratchBundle(t)
      const bait = join(bundle, 'bait')
      mkdirSync(join(bait, 'driver/nvidia'), { recursive: true })
      writeFileSync(join(bait, 'secret'), 'host data\n')
      const parent = join(rootfs, ...COMPONENTS.slice(0, i))
      mkdirSync(parent, { recursive: true })
      const before = snapshot(rootfs, [bait, SOURCE], ['/'])
      const racer = spawn(process.execPath, [RACER, parent, name, bait], { stdio: ['ignore', 'pipe', 'inherit'] })
      let said = ''
      racer.stdout.setEncoding('utf8').on('data', (d: string) => (said += d))
      await new Promise<void>(done => racer.stdout.once('data', () => done()))
      const run = runHook(['--stage', 'createContainer'], gvisorState(bundle))
      racer.kill('SIGTERM')
      await new Promise(done => racer.on('close', done))
      t.match(said, /flips \d+/, 'the racer flipped')

      const outcome = run.status === 0 ? 'mounted' : run.stderr.trim().replace(/\/\S*/g, 'PATH').slice(0, 80)
      tally[outcome] = (tally[outcome] ?? 0) + 1
      t.ok(run.status === 0 || run.status === 1, `round ${round}: exit 0 or 1 (${run.status})`)
      assertOneLine(t, run, run.status === 0 ? undefined : /^nvidia-procfs-hook: error: (?!.*internal)/, `round ${round}`)
      // The racer may have renamed the checked directory away afterwards, so
      // the check is on what the mount sits on, not on the path it has now.
      const ours = assertNothingOutside(t, before)
      t.ok(ours.length <= 1, `round ${round}: at most one mount`)
      if (run.status === 0) t.equal(ours.length, 1, `round ${round}: exit 0 means one mount`)
      for (const m of ours) {
        // Each component is the real directory under one of the racer's names for it.
        t.match(relative(realpathSync(rootfs), m.mountPoint), ON_CHECKED_DIR, 'on proc/driver/nvidia, or where the racer renamed it')
        t.equal(realpathSync(m.mountPoint), m.mountPoint, 'no symlink on its path')
        t.equal(statSync(dirname(m.mountPoint)).dev, statSync(rootfs).dev, 'sitting on the rootfs\'s own filesystem')
        const st = statSync(m.mountPoint)
        const src = statSync(SOURCE)
        t.same([st.dev, st.ino], [src.dev, src.ino], 'showing the source (st_dev/st_ino)')
        for (const o of REQUIRED_OPTIONS) t.ok(m.options.includes(o), o)
      }
    }
  })
}

t.test('race tally', async t => {
  t.comment(JSON.stringify(tally))
  t.equal(Object.values(tally).reduce((a, b) => a + b, 0), ROUNDS * COMPONENTS.length, 'every run accounted for')
})

// A shared rootfs mount is refused only where a mount there would reach
// another mount namespace (src/propagation.ts).
const refusedShared = (rootfs: string, mountPoint: string, pid: number) =>
  new RegExp(`^nvidia-procfs-hook: error: the mount holding ${rootfs} \\(${mountPoint}\\) propagates to the mount namespace of pid ${pid} \\(at ${mountPoint}\\): a mount there would appear there too; refusing$`)

t.test('the rootfs on a shared bind mount with a peer in another namespace: refused, nothing created', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  sh('/usr/bin/mount', '--bind', rootfs, rootfs)
  sh('/usr/bin/mount', '--make-shared', rootfs)
  const pid = await processInOwnMountNamespace(t, 'unchanged')
  const before = snapshot(rootfs, [SOURCE], ['/'])
  const run = runHook(['--stage', 'createContainer'], gvisorState(bundle))
  t.equal(run.status, 1)
  assertOneLine(t, run, refusedShared(rootfs, rootfs, pid))
  assertContained(t, before, false)
  t.same(spawnSync('/usr/bin/ls', ['-A', rootfs], { encoding: 'utf8' }).stdout, '', 'nothing created')
})

t.test('the rootfs on a shared mount whose only outside copy is a slave: refused (slaves receive)', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  sh('/usr/bin/mount', '--bind', rootfs, rootfs)
  sh('/usr/bin/mount', '--make-shared', rootfs)
  const pid = await processInOwnMountNamespace(t, 'unchanged')
  sh('/usr/bin/nsenter', `--mount=/proc/${pid}/ns/mnt`, '/usr/bin/mount', '--make-slave', rootfs)
  const run = runHook(['--stage', 'createContainer'], gvisorState(bundle))
  t.equal(run.status, 1)
  assertOneLine(t, run, refusedShared(rootfs, rootfs, pid))
})

t.test('reached through a shared slave of its group (transitively): refused, naming where', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  sh('/usr/bin/mount', '--bind', rootfs, rootfs)
  sh('/usr/bin/mount', '--make-shared', rootfs)
  // Here: a slave of the rootfs's group, itself shared in a group of its own.
  const relay = join(bundle, 'relay')
  mkdirSync(relay)
  sh('/usr/bin/mount', '--bind', rootfs, relay)
  sh('/usr/bin/mount', '--make-slave', relay)
  sh('/usr/bin/mount', '--make-shared', relay)
  // There: no peer or slave of the rootfs, only a slave of the relay.
  const pid = await processInOwnMountNamespace(t, 'unchanged')
  sh('/usr/bin/nsenter', `--mount=/proc/${pid}/ns/mnt`, '/usr/bin/mount', '--make-private', rootfs)
  sh('/usr/bin/nsenter', `--mount=/proc/${pid}/ns/mnt`, '/usr/bin/mount', '--make-slave', relay)
  const run = runHook(['--stage', 'createContainer'], gvisorState(bundle))
  t.equal(run.status, 1)
  assertOneLine(t, run, new RegExp(`propagates to the mount namespace of pid ${pid} \\(at ${relay}\\): a mount there would appear there too; refusing$`))
})

t.test('the rootfs inside a shared scratch bind (its parent mount is shared) with an outside peer: refused', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  sh('/usr/bin/mount', '--bind', bundle, bundle)
  sh('/usr/bin/mount', '--make-shared', bundle)
  const pid = await processInOwnMountNamespace(t, 'unchanged')
  const before = snapshot(rootfs, [SOURCE], ['/'])
  const run = runHook(['--stage', 'createContainer'], gvisorState(bundle))
  t.equal(run.status, 1)
  assertOneLine(t, run, refusedShared(rootfs, bundle, pid))
  assertContained(t, before, false)
})

t.test('a shared rootfs mount whose peers are all in this namespace: mounted, seen only here', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  sh('/usr/bin/mount', '--bind', rootfs, rootfs)
  sh('/usr/bin/mount', '--make-shared', rootfs)
  const peer = join(bundle, 'peer')
  mkdirSync(peer)
  sh('/usr/bin/mount', '--bind', rootfs, peer)
  // Another namespace exists, but copied privately: it holds no peer.
  const pid = await processInOwnMountNamespace(t, 'private')
  const run = runHook(['--stage', 'createContainer'], gvisorState(bundle))
  t.equal(run.status, 0, run.stderr)
  assertOneLine(t, run, undefined)
  const ours = mountsIn(rootfs).filter(m => m.mountPoint === join(rootfs, 'proc/driver/nvidia'))
  t.equal(ours.length, 1, 'one mount on the rootfs')
  for (const o of REQUIRED_OPTIONS) t.ok(ours[0]?.options.includes(o), o)
  t.ok(mountsIn(peer).some(m => m.mountPoint === join(peer, 'proc/driver/nvidia')), 'the peer in this namespace got its copy')
  const theirs = spawnSync('/usr/bin/nsenter', [`--mount=/proc/${pid}/ns/mnt`, '/usr/bin/cat', '/proc/self/mountinfo'], { encoding: 'utf8' }).stdout
  t.notMatch(theirs, join(rootfs, 'proc/driver'), 'the other namespace saw nothing')
})

t.test('a systemd-like host (shared /, a namespace copied from it): refused there, nothing created', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  const ready = join(bundle, 'ready')
  // In a namespace whose mounts are all shared, a copy of it holds peers of each.
  const script = `/usr/bin/unshare -m --propagation unchanged /bin/sh -c ': > ${ready}; exec /bin/sleep 600' & holder=$!
    while [ ! -e ${ready} ]; do /bin/sleep 0.01; done
    echo "holder $holder" >&2; "$0" --stage createContainer; rc=$?; kill -9 $holder; exit $rc`
  const r = spawnSync('/usr/bin/unshare', ['-m', '--propagation', 'shared', '/bin/sh', '-c', script, HOOK], {
    input: gvisorState(bundle),
    env: HOOK_ENV,
    encoding: 'utf8',
  })
  const holder = /^holder (\d+)\n/.exec(r.stderr)?.[1]
  t.equal(r.status, 1)
  t.match(r.stderr.slice(r.stderr.indexOf('\n') + 1), new RegExp(`^nvidia-procfs-hook: error: the mount holding ${rootfs} \\(.*\\) propagates to the mount namespace of pid ${holder} \\(at .*\\): a mount there would appear there too; refusing\n$`))
  t.same(spawnSync('/usr/bin/ls', ['-A', rootfs], { encoding: 'utf8' }).stdout, '', 'nothing created')
})

t.test('the rootfs on a slave mount (as in gVisor\'s gofer): mounted, nothing propagates back', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  sh('/usr/bin/mount', '--bind', rootfs, rootfs)
  sh('/usr/bin/mount', '--make-shared', rootfs)
  // A peer of the shared mount, then made a slave: it receives, never sends.
  const peer = join(bundle, 'peer')
  mkdirSync(peer)
  sh('/usr/bin/mount', '--bind', rootfs, peer)
  sh('/usr/bin/mount', '--make-slave', peer)
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'peer' } }))
  const before = snapshot(peer, [SOURCE], ['/'])
  const run = runHook(['--stage', 'createContainer'], gvisorState(bundle))
  t.equal(run.status, 0)
  assertOneLine(t, run, undefined)
  assertContained(t, before, true)
  t.same(mountsIn(rootfs).map(m => m.mountPoint), [rootfs], 'the master saw nothing')
})
