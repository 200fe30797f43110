// Which of util-linux's two mount APIs the hook follows, seen in the
// syscalls (strace -f -y): the API the host's libmount uses, carried out by
// the executable itself (node:ffi), with no child process. With the fd-based
// API the source is cloned as a detached tree, made read-only there
// (mount_setattr) and attached by fd onto the checked directory
// (move_mount): no read-write bind and no remount happen. With classic
// mount(2), a plain bind through the checked directory's fd, then the
// remount through a fresh fd of the new mount. A kernel without the fd-based
// calls (ENOSYS) gets classic mount(2), as libmount falls back. Runs with
// whichever util-linux the root has (test/system/util-linux.ts runs it with
// trixie's and sid's).
import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { HOOK, HOOK_ENV, mountsIn } from '../harness/containment'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { scratchBundle } from '../harness/scratch'
import { mountApi } from '../../src/mount'
import { REQUIRED_OPTIONS } from '../../src/mountinfo'

mountFakeDriver()
t.teardown(unmountFakeDriver)

const version = execFileSync('/usr/bin/mount', ['--version'], { encoding: 'utf8' })
const [major, minor] = (/util-linux (\d+)\.(\d+)/.exec(version) ?? []).slice(1).map(Number)
// libmount uses the fd-based API by default from 2.39 (runtimes.md).
const expected = (major ?? 0) > 2 || (minor ?? 0) >= 39 ? 'fd-based' : 'classic'

t.test(`util-linux ${major}.${minor}: the ${expected} API is read from its libmount, as mount --version says`, async t => {
  t.equal(mountApi(), expected)
  t.equal(/\bfd-based-mount\b/.test(version) ? 'fd-based' : 'classic', expected)
})

/**
 * One run of the executable under strace -f -y (`inject`: strace's tampering,
 * if any): its exit, what it said, the hook's pid, the processes it started
 * and the mount calls it made, each line without its pid.
 */
const traced = (t: Test, rootfs: string, bundle: string, inject: string[] = []) => {
  const trace = join(bundle, 'strace.txt')
  const r = spawnSync(
    '/usr/bin/strace',
    ['-f', '-y', '-qq', '-e', 'trace=openat,mount,open_tree,mount_setattr,move_mount,fsopen,fsmount,execve,clone,clone3,fork,vfork', ...inject, '-o', trace, HOOK, '--rootfs', rootfs],
    { env: HOOK_ENV, encoding: 'utf8' },
  )
  t.equal(r.status, 0, r.stderr)
  // strace -f splits a call that another thread's output interrupts:
  // "PID NAME(args <unfinished ...>", later "PID <... NAME resumed>rest". Joined here.
  const lines: string[] = []
  const open = new Map<string, number>()
  for (const l of readFileSync(trace, 'utf8').split('\n')) {
    const [, cutPid, cut] = /^(\d+)\s+(.*) <unfinished \.\.\.>$/.exec(l) ?? []
    const [, pid, rest] = /^(\d+)\s+<\.\.\. \w+ resumed>(.*)$/.exec(l) ?? []
    const at = open.get(pid ?? '')
    if (cutPid !== undefined) open.set(cutPid, lines.push(`${cutPid} ${cut}`) - 1)
    else if (at !== undefined) lines[at] = `${lines[at]}${rest}`
    else lines.push(l)
  }
  const hookPid = /^(\d+)\s/.exec(lines[0] ?? '')?.[1]
  // Processes, not threads: a clone without CLONE_THREAD, or a fork.
  const spawned = lines.filter(l => /^\d+\s+(clone3?|v?fork)\(/.test(l) && !l.includes('CLONE_THREAD') && !/= -1 /.test(l))
  const mountCalls = lines.filter(l => /^\d+\s+(mount|open_tree|mount_setattr|move_mount|fsopen|fsmount)\(/.test(l))
  // The fd the walk opened on <rootfs>/proc/driver/nvidia (strace -y names an fd's file).
  const nvidia = join(rootfs, 'proc/driver/nvidia')
  const checkedFds = lines.filter(l => /^\d+\s+openat\(/.test(l)).map(l => new RegExp(`= (\\d+)<${nvidia}>$`).exec(l)?.[1]).filter(fd => fd !== undefined)
  return {
    stderr: r.stderr,
    spawned,
    byHook: mountCalls.every(l => l.startsWith(`${hookPid} `)),
    calls: mountCalls.map(l => l.replace(/^\d+\s+/, '')),
    checkedFds,
  }
}

const mountedLine = (rootfs: string, api: string) =>
  new RegExp(`^nvidia-procfs-hook: mounted: bound /proc/driver/nvidia read-only at ${rootfs}/proc/driver/nvidia \\(${api} mount API\\)\\n$`)

/** The classic calls: a plain bind through the checked directory's fd, then the remount through a fresh fd. */
const assertClassic = (t: Test, calls: string[], checkedFds: string[]) => {
  t.equal(calls.filter(c => c.startsWith('mount(')).length, 2, 'two mount(2) calls')
  const bind = /^mount\("\/proc\/driver\/nvidia", "\/proc\/self\/fd\/(\d+)", NULL, MS_BIND, NULL\) += 0$/.exec(calls.find(c => c.startsWith('mount(')) ?? '')
  t.ok(bind, 'a plain bind')
  t.ok(checkedFds.includes(bind?.[1] ?? 'none'), `onto the checked directory (fd ${bind?.[1]})`)
  t.match(calls.filter(c => c.startsWith('mount(')).at(-1), /^mount\(NULL, "\/proc\/self\/fd\/\d+", NULL, MS_RDONLY\|MS_NOSUID\|MS_NODEV\|MS_NOEXEC\|MS_REMOUNT\|MS_BIND, NULL\) += 0$/, 'then the remount through a fresh fd')
}

const assertReadOnlyMount = (t: Test, rootfs: string) => {
  const ms = mountsIn(rootfs)
  t.equal(ms.length, 1, 'one mount')
  for (const o of REQUIRED_OPTIONS) t.ok(ms[0]?.options.includes(o), o)
}

t.test(`one run under strace: the ${expected} API's calls, made by the hook itself, no child process, a read-only mount`, async t => {
  const { bundle, rootfs } = scratchBundle(t)
  const run = traced(t, rootfs, bundle)
  t.match(run.stderr, mountedLine(rootfs, expected))
  t.equal(run.spawned.length, 0, `no child process (${run.spawned.join('; ')})`)
  t.ok(run.byHook, 'every mount call by the hook process')
  t.comment(run.calls.join('\n'))
  const { calls } = run
  if (expected === 'fd-based') {
    t.same(calls.filter(c => c.startsWith('mount(')), [], 'no mount(2) at all: no read-write bind, no remount')
    const clone = calls.findIndex(c => /^open_tree\(AT_FDCWD(<[^>]*>)?, "\/proc\/driver\/nvidia", OPEN_TREE_CLONE\|OPEN_TREE_CLOEXEC\) = \d+/.test(c))
    const tree = /\) = (\d+)/.exec(calls[clone] ?? '')?.[1]
    const attr = calls.findIndex(c => new RegExp(`^mount_setattr\\(${tree}<[^>]*>, "", AT_EMPTY_PATH, `).test(c))
    const move = calls.findIndex(c => /^move_mount\(/.test(c))
    t.ok(clone >= 0, 'the source cloned as a detached tree')
    t.ok(clone < attr && attr < move, 'mount_setattr before move_mount')
    for (const flag of ['RDONLY', 'NOSUID', 'NODEV', 'NOEXEC']) t.match(calls[attr], `MOUNT_ATTR_${flag}`, `set on the detached tree: ${flag}`)
    const onto = new RegExp(`^move_mount\\(${tree}<[^>]*>, "", (\\d+)<${rootfs}/proc/driver/nvidia>, "", MOVE_MOUNT_F_EMPTY_PATH\\|MOVE_MOUNT_T_EMPTY_PATH\\) = 0$`).exec(calls[move] ?? '')
    t.ok(onto, `attached by fd onto the checked directory: ${calls[move]}`)
    t.ok(run.checkedFds.includes(onto?.[1] ?? 'none'), 'the fd the walk opened')
  } else assertClassic(t, calls, run.checkedFds)
  assertReadOnlyMount(t, rootfs)
})

// A kernel before 5.12 has open_tree and move_mount but no mount_setattr; one before 5.2, none of them.
for (const call of ['open_tree', 'mount_setattr']) {
  t.test(`fd-based, but the kernel has no ${call} (ENOSYS): classic mount(2), sealed and verified`, { skip: expected !== 'fd-based' && 'the host libmount uses classic mount(2)' }, async t => {
    const { bundle, rootfs } = scratchBundle(t)
    const run = traced(t, rootfs, bundle, ['-e', `inject=${call}:error=ENOSYS`])
    t.match(run.stderr, mountedLine(rootfs, 'classic'))
    t.equal(run.spawned.length, 0, 'no child process')
    t.same(run.calls.filter(c => c.startsWith('move_mount(')), [], 'nothing attached by move_mount')
    assertClassic(t, run.calls, run.checkedFds)
    assertReadOnlyMount(t, rootfs)
  })
}
