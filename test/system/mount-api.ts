// Which of util-linux's two mount APIs the hook drove, seen in the syscalls
// (strace -f): with libmount's fd-based API the bind is made read-only on
// the detached tree (mount_setattr) before move_mount attaches it, and no
// read-write bind and no remount happen; with classic mount(2), mount(8)'s
// plain bind, then the hook's own remount (mount(2) through node:ffi) through
// a fresh fd. Either way the run starts one process: the bind's mount(8).
// Runs with whichever util-linux the root has (test/system/util-linux.ts
// runs it with trixie's and sid's).
import t from 'tap'
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

t.test(`one run under strace: the ${expected} API's calls, and a read-only mount`, async t => {
  const { bundle, rootfs } = scratchBundle(t)
  const trace = join(bundle, 'strace.txt')
  const r = spawnSync(
    '/usr/bin/strace',
    ['-f', '-qq', '-e', 'trace=mount,open_tree,mount_setattr,move_mount,fsopen,fsmount,execve,clone,clone3,fork,vfork', '-o', trace, HOOK, '--rootfs', rootfs],
    { env: HOOK_ENV, encoding: 'utf8' },
  )
  t.equal(r.status, 0, r.stderr)
  t.match(r.stderr, new RegExp(`^nvidia-procfs-hook: mounted: bound /proc/driver/nvidia read-only at ${rootfs}/proc/driver/nvidia \\(${expected} mount API\\)\\n$`))
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
  const execs = lines.filter(l => /^\d+\s+execve\(/.test(l) && / += 0$/.test(l)).map(l => /execve\("([^"]*)"/.exec(l)?.[1])
  t.equal(spawned.length, 1, `one child process (${spawned.length})`)
  t.same(execs.slice(1), ['/usr/bin/mount'], 'which runs mount(8)')
  const calls = lines.filter(l => /^\d+\s+(mount|open_tree|mount_setattr|move_mount|fsopen|fsmount)\(/.test(l))
  t.comment(calls.join('\n'))
  const by = calls.map(l => /^(\d+)\s/.exec(l)?.[1])
  calls.forEach((c, i) => (calls[i] = c.replace(/^\d+\s+/, '')))
  if (expected === 'fd-based') {
    t.same(calls.filter(c => c.startsWith('mount(')), [], 'no mount(2) at all: no read-write bind, no remount')
    const clone = calls.findIndex(c => /^open_tree\(AT_FDCWD, "\/proc\/driver\/nvidia", .*OPEN_TREE_CLONE/.test(c))
    // libmount first probes mount_setattr(-1, NULL, ...); ours names the tree's fd.
    const tree = /= (\d+)$/.exec(calls[clone] ?? '')?.[1]
    const attr = calls.findIndex(c => c.startsWith(`mount_setattr(${tree}, "", AT_EMPTY_PATH, `))
    const move = calls.findIndex(c => /^move_mount\(/.test(c))
    t.ok(clone >= 0, 'the source cloned as a detached tree')
    t.ok(clone < attr && attr < move, 'mount_setattr before move_mount')
    for (const flag of ['RDONLY', 'NOSUID', 'NODEV', 'NOEXEC']) t.match(calls[attr], `MOUNT_ATTR_${flag}`, `set on the detached tree: ${flag}`)
    t.match(calls[move], /^move_mount\(\d+, "", AT_FDCWD, "\/proc\/self\/fd\/3\/\.", MOVE_MOUNT_F_EMPTY_PATH\) += 0$/, 'attached on the checked directory')
  } else {
    t.equal(calls.length, 2, 'two mount(2) calls')
    t.match(calls[0], /^mount\("\/proc\/driver\/nvidia", "\/proc\/self\/fd\/3\/\.", [^,]+, MS_BIND, NULL\) += 0$/, 'a plain bind onto the checked directory')
    t.not(by[0], hookPid, 'by mount(8)')
    t.match(calls[1], /^mount\(NULL, "\/proc\/self\/fd\/\d+", NULL, MS_RDONLY\|MS_NOSUID\|MS_NODEV\|MS_NOEXEC\|MS_REMOUNT\|MS_BIND, NULL\) += 0$/, 'then the remount through a fresh fd')
    t.equal(by[1], hookPid, 'by the hook itself')
  }
  const ms = mountsIn(rootfs)
  t.equal(ms.length, 1, 'one mount')
  for (const o of REQUIRED_OPTIONS) t.ok(ms[0]?.options.includes(o), o)
})
