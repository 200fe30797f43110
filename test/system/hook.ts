import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { hookCommand, type HookIO } from '../../src/hook'
import { procProbe } from '../../src/placement'
import { parseMountinfo, readMountinfo } from '../../src/mountinfo'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { processInOwnMountNamespace } from '../harness/processes'
import { mountsUnder, scratchBundle, stateFor } from '../harness/scratch'
import { EXE } from '../harness/target'

mountFakeDriver()
t.teardown(unmountFakeDriver)

const scratch = mkdtempSync(join(tmpdir(), 'nph-hook-system-'))
t.teardown(() => rmSync(scratch, { recursive: true }))
let files = 0
const scratchFile = (text: string, mode = 0o644) => {
  const file = join(scratch, `f${++files}`)
  writeFileSync(file, text, { mode })
  return file
}

const io = (stdinText: string, self = [EXE]) => {
  const file = scratchFile(stdinText)
  const out: string[] = []
  const err: string[] = []
  const hookIO: HookIO = { stdin: openSync(file, 'r'), isTTY: () => false, out: l => out.push(l), err: l => err.push(l), probe: procProbe, self }
  return { hookIO, out, err }
}

t.test('createContainer from a runtime: mounted, silent, logged', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  const log = join(bundle, 'log')
  const r = io(stateFor(bundle))
  t.equal(hookCommand(['--stage', 'createContainer', '--log-file', log], r.hookIO), 0)
  t.same([r.out, r.err], [[], []], 'silent')
  t.equal(mountsUnder(rootfs).length, 1)
  t.match(JSON.parse(readFileSync(log, 'utf8')), { action: 'mounted', stage: 'createContainer', reason: /bound \/proc\/driver\/nvidia read-only/ })
})

t.test('createRuntime with a live pid: the mount is made in the container\'s namespace only', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  const pid = await processInOwnMountNamespace(t)
  const before = readMountinfo().length
  const dry = io(stateFor(bundle, { pid }))
  t.equal(hookCommand(['--stage', 'createRuntime', '--dry-run'], dry.hookIO), 0)
  t.match(dry.out, [new RegExp(`^would mount needed; would run: nsenter --mount=/proc/${pid}/ns/mnt -- ${EXE} hook --stage createContainer --rootfs ${rootfs}`)])

  const r = io(stateFor(bundle, { pid }))
  t.equal(hookCommand(['--log-file', join(bundle, 'log')], r.hookIO), 0, 'stage inferred from the pid')
  const theirs = parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8')).filter(m => m.mountPoint === join(rootfs, 'proc/driver/nvidia'))
  t.equal(theirs.length, 1, 'one mount in the container namespace')
  for (const o of ['ro', 'nosuid', 'nodev', 'noexec']) t.ok(theirs[0]?.options.includes(o), o)
  t.same(mountsUnder(rootfs), [], 'none in ours')
  t.equal(readMountinfo().length, before)
  t.match(JSON.parse(readFileSync(join(bundle, 'log'), 'utf8')), { stage: 'createRuntime', action: 'mounted', reason: new RegExp(`^in the mount namespace of pid ${pid}: bound`) })

  const again = io(stateFor(bundle, { pid }))
  t.equal(hookCommand(['--stage', 'prestart', '--log-file', join(bundle, 'log')], again.hookIO), 0)
  t.match(
    JSON.parse(readFileSync(join(bundle, 'log'), 'utf8').trim().split('\n')[1] as string),
    { action: 'skipped', reason: /^[^ ]+\/proc\/driver\/nvidia\/params already exists \(a read-only bind of \/proc\/driver\/nvidia\)$/ },
    'seen through /proc/PID/root and /proc/PID/mountinfo, without entering',
  )
})

t.test('what the re-run inside the namespace answers is what gets reported', async t => {
  const pid = await processInOwnMountNamespace(t)
  const fake = (body: string) => [scratchFile(`#!/bin/sh\n${body}\n`, 0o755)]
  const runWith = (self: string[]) => {
    const { bundle } = scratchBundle(t)
    return hookCommand(['--stage', 'createRuntime', '--log-file', join(bundle, 'log')], io(stateFor(bundle, { pid }), self).hookIO) &&
      JSON.parse(readFileSync(join(bundle, 'log'), 'utf8'))
  }
  const { bundle } = scratchBundle(t)
  t.equal(hookCommand(['--stage', 'createRuntime', '--log-file', join(bundle, 'log')], io(stateFor(bundle, { pid }), fake('echo "nvidia-procfs-hook: skipped: raced" >&2')).hookIO), 0)
  t.match(JSON.parse(readFileSync(join(bundle, 'log'), 'utf8')), { action: 'skipped', reason: `in the mount namespace of pid ${pid}: raced` })
  const repaired = scratchBundle(t)
  t.equal(hookCommand(['--stage', 'createRuntime', '--log-file', join(repaired.bundle, 'log')], io(stateFor(repaired.bundle, { pid }), fake('echo "nvidia-procfs-hook: repaired: sealed" >&2')).hookIO), 0)
  t.match(JSON.parse(readFileSync(join(repaired.bundle, 'log'), 'utf8')), { action: 'repaired', reason: `in the mount namespace of pid ${pid}: sealed` })
  t.throws(() => runWith(fake('echo hello >&2')), { message: `in the mount namespace of pid ${pid}: unexpected answer "hello"` })
  t.throws(() => runWith(fake('echo "nvidia-procfs-hook: error: boom" >&2; exit 1')), { message: /^nsenter --mount=.* failed: nvidia-procfs-hook: error: boom$/ })
})

t.test('the built executable: state on stdin, one mount, then a no-op', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  const { spawnSync } = await import('node:child_process')
  const run = () => spawnSync(EXE, ['--stage', 'createContainer'], { input: stateFor(bundle), env: {}, encoding: 'utf8' })
  const first = run()
  t.same([first.status, first.stdout, first.stderr], [0, '', ''])
  const second = run()
  t.same([second.status, second.stdout, second.stderr], [0, '', ''])
  t.equal(mountsUnder(rootfs).length, 1)
  t.throws(() => writeFileSync(join(rootfs, 'proc/driver/nvidia/params'), 'x'), { code: 'EROFS' })
  const bad = spawnSync(EXE, [], { input: '{"id":', env: {}, encoding: 'utf8' })
  t.equal(bad.status, 1)
  t.match(bad.stderr, /^nvidia-procfs-hook: error: invalid OCI state from stdin: not JSON \(.*\)\n$/)
})

t.test('the built executable with no driver loaded: exit 0, nothing touched, reason logged', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  const { execFileSync, spawnSync } = await import('node:child_process')
  // Hide the fake driver: an empty /proc/driver, as on a host without one.
  execFileSync('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'mode=0555,size=4k', 'no-driver', '/proc/driver'])
  t.teardown(() => execFileSync('/usr/bin/umount', ['/proc/driver']))
  const log = join(bundle, 'log')
  const res = spawnSync(EXE, ['--log-file', log], { input: stateFor(bundle), env: {}, encoding: 'utf8' })
  t.same([res.status, res.stdout, res.stderr], [0, '', ''])
  t.match(JSON.parse(readFileSync(log, 'utf8')), { action: 'skipped', reason: 'no NVIDIA driver loaded (/proc/driver/nvidia does not exist)' })
  t.same(readdirSync(rootfs), [], 'rootfs untouched')
})
