// `cdi patch --watch` as the executable a supervisor runs, on the default
// directories of a private mount namespace whose /run is a scratch tmpfs:
// started before /var/run/cdi exists, the directory created later, removed
// and re-created, a tmpfs mounted over it; 1,000 rapid rewrites (CPU time
// from /proc/PID/stat); idle CPU; SIGTERM and SIGINT; a directory it cannot
// use. Then the capabilities an atomic replace keeping owner and mode needs
// (systemd/nvidia-procfs-hook-cdi-watch.service's CapabilityBoundingSet=).
import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { chownSync, chmodSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { DEBOUNCE_MS, POLL_MS } from '../../src/cdi-watch'

const EXE = resolve('dist/nvidia-procfs-hook')
const CTK = readFileSync(resolve('test/fixtures/cdi/nvidia-ctk.yaml'), 'utf8')
const PLUGIN = readFileSync(resolve('test/fixtures/cdi/k8s-device-plugin.json'), 'utf8')
const TICK_S = 1 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }))
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))
const mount = (...args: string[]) => execFileSync('/usr/bin/mount', args)
const umount = (path: string) => execFileSync('/usr/bin/umount', [path])

// Our own /run: nothing under the host's is touched, and /var/run/cdi does not exist until we say.
mount('-t', 'tmpfs', '-o', 'mode=0755,size=16m', 'nph-test-run', '/run')
t.teardown(() => execFileSync('/usr/bin/umount', ['-R', '/run']))

/** User plus system CPU time of a process so far, in seconds. */
const cpuSeconds = (pid: number) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
  // utime and stime are fields 14 and 15 of stat(5); 12 and 13 after pid and comm.
  return (Number(fields[11]) + Number(fields[12])) * TICK_S
}

/** The executable, watching; its output so far, and a wait on it. Killed (by pid) at teardown if still running. */
const startWatch = async (t: Test, args: string[], ready = /^watching /m) => {
  const child: ChildProcess = spawn(EXE, ['cdi', 'patch', '--watch', '--binary', EXE, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  })
  const w = {
    child,
    out: '',
    err: '',
    exited: new Promise<[number | null, string | null]>(r => child.on('exit', (code, signal) => r([code, signal]))),
    /** Milliseconds until `cond` holds (asserted), polling every 5 ms. */
    until: async (what: string, cond: () => boolean, ms = 5000) => {
      const start = Date.now()
      while (!cond() && Date.now() - start < ms) await sleep(5)
      t.ok(cond(), what)
      return Date.now() - start
    },
    patches: (file: string) => w.out.split('\n').filter(l => l.startsWith(`patched ${file} `)).length,
  }
  child.stdout?.on('data', d => (w.out += d))
  child.stderr?.on('data', d => (w.err += d))
  await w.until('started', () => ready.test(w.out) || child.exitCode !== null, 10_000)
  return w
}

const isPatched = (file: string) => readFileSync(file, 'utf8').includes(EXE)

const latencies: Record<string, number> = {}

t.test('started before /var/run/cdi exists: created later, removed and re-created, mounted over; SIGTERM', async t => {
  const w = await startWatch(t, [])
  t.equal(w.out, '/etc/cdi: does not exist; waiting for it (watching /etc)\n/var/run/cdi: does not exist; waiting for it (watching /var/run)\nwatching /etc/cdi, /var/run/cdi\n')
  const spec = '/var/run/cdi/nvidia.yaml'

  // As nvidia-cdi-refresh does at boot: mkdir -p, then the spec.
  mkdirSync('/var/run/cdi')
  writeFileSync(spec, CTK)
  latencies.created = await w.until('a spec in the directory created later patched', () => w.patches(spec) === 1)
  t.ok(isPatched(spec))

  // k8s-device-plugin on restart: a new file renamed over its spec.
  const plugin = '/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json'
  writeFileSync(`${plugin}.tmp`, PLUGIN)
  renameSync(`${plugin}.tmp`, plugin)
  latencies.renamed = await w.until('the device plugin spec patched', () => w.patches(plugin) === 1)
  writeFileSync(spec, CTK)
  latencies.rewritten = await w.until('a spec rewritten in place patched', () => w.patches(spec) === 2)

  rmSync('/var/run/cdi', { recursive: true })
  await w.until('the removal said', () => w.out.endsWith('/var/run/cdi: gone; waiting for it (watching /var/run)\n'))
  mkdirSync('/var/run/cdi')
  writeFileSync(spec, CTK)
  latencies.recreated = await w.until('patched in the re-created directory', () => w.patches(spec) === 3)

  mount('-t', 'tmpfs', '-o', 'mode=0755,size=1m', 'nph-test-cdi', '/var/run/cdi')
  t.teardown(() => spawnSync('/usr/bin/umount', ['/var/run/cdi']))
  writeFileSync(spec, CTK)
  latencies.mountedOver = await w.until('patched on the tmpfs mounted over it (no inotify event: the poll)', () => w.patches(spec) === 4)
  t.ok(latencies.mountedOver < POLL_MS + DEBOUNCE_MS + 500, `within a poll and a quiet time (${latencies.mountedOver} ms)`)
  for (const [what, ms] of Object.entries(latencies)) t.ok(ms < 1000 + (what === 'mountedOver' ? POLL_MS : 0), `${what}: ${ms} ms`)

  w.child.kill('SIGTERM')
  t.same(await w.exited, [0, null], 'SIGTERM: exit 0')
  t.match(w.out, /stopped watching\n$/)
  t.equal(w.err, '')
  t.comment(`reaction latency (ms): ${JSON.stringify(latencies)}`)
})

t.test('1,000 rapid rewrites: patched at the end, no busy loop; idle costs nothing; SIGINT', async t => {
  mkdirSync('/var/run/cdi', { recursive: true })
  const spec = '/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json'
  writeFileSync(spec, PLUGIN)
  const w = await startWatch(t, ['/var/run/cdi'])
  const pid = w.child.pid as number
  await w.until('first pass', () => w.patches(spec) === 1)
  await sleep(POLL_MS)
  const idleFrom = cpuSeconds(pid)
  await sleep(5000)
  const idle = cpuSeconds(pid) - idleFrom
  t.ok(idle <= 0.05, `idle: ${idle.toFixed(2)} s of CPU in 5 s`)

  const before = cpuSeconds(pid)
  const started = Date.now()
  for (let i = 0; i < 1000; i++) {
    // Half renamed over (atomic writers), half in place.
    if (i % 2) {
      writeFileSync(`${spec}.new`, PLUGIN)
      renameSync(`${spec}.new`, spec)
    } else writeFileSync(spec, PLUGIN)
    if (i % 10 === 9) await sleep(1)
  }
  const writing = Date.now() - started
  await w.until('patched after the last rewrite', () => isPatched(spec) && w.patches(spec) >= 2)
  await sleep(DEBOUNCE_MS * 3)
  const cpu = cpuSeconds(pid) - before
  t.ok(isPatched(spec), 'the final file is patched')
  t.ok(cpu < 5, `1,000 rewrites in ${writing} ms cost the watcher ${cpu.toFixed(2)} s of CPU`)
  t.comment(`1,000 rewrites (${writing} ms): ${cpu.toFixed(2)} s CPU, ${w.patches(spec) - 1} patches; idle ${idle.toFixed(2)} s CPU per 5 s`)

  w.child.kill('SIGINT')
  t.same(await w.exited, [0, null], 'SIGINT: exit 0')
  t.equal(w.err, '')
  rmSync('/var/run/cdi', { recursive: true })
})

t.test('a directory it cannot use: one line on stderr, exit 1, for the supervisor to restart it', async t => {
  mkdirSync('/var/run/cdi')
  const w = await startWatch(t, [], /^watching |stopped watching/m)
  mount('-t', 'tmpfs', '-o', 'ro,size=1m', 'nph-test-ro', '/var/run/cdi')
  t.same(await w.exited, [1, null], 'exit 1')
  t.equal(w.err, '/var/run/cdi is on a read-only filesystem here (a stale sandbox bind, or mounted read-only); exiting so that the supervisor restarts it\n'.replace(/^/, 'nvidia-procfs-hook: error: '))
  umount('/var/run/cdi')
  rmdirSync('/var/run/cdi')
})

t.test('capabilities an atomic replace keeping owner and mode needs (uid 0, root-owned directory)', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'nph-caps-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  chmodSync(dir, 0o755)
  /** `cdi patch FILE` with only `caps` in the bounding set (as CapabilityBoundingSet= leaves a root service). */
  const patchWith = (caps: string[], owner: [number, number], mode: number) => {
    const file = join(dir, 'spec.json')
    rmSync(file, { force: true })
    writeFileSync(file, PLUGIN)
    chownSync(file, ...owner)
    chmodSync(file, mode)
    const bounding = ['-all', ...caps.map(c => `+${c}`)].join(',')
    const res = spawnSync('/usr/bin/setpriv', [`--bounding-set=${bounding}`, '--inh-caps=-all', EXE, 'cdi', 'patch', '--binary', EXE, file], { encoding: 'utf8' })
    const st = statSync(file)
    return { status: res.status, stderr: res.stderr, patched: isPatched(file), kept: st.uid === owner[0] && st.gid === owner[1] && (st.mode & 0o7777) === mode }
  }
  t.same(patchWith([], [0, 0], 0o644), { status: 0, stderr: '', patched: true, kept: true }, 'root-owned specs (what NVIDIA\'s tools write): no capability at all')
  t.same(patchWith([], [0, 0], 0o600), { status: 0, stderr: '', patched: true, kept: true }, 'root-owned, 0600: none either')
  const foreign = patchWith([], [1000, 1000], 0o644)
  t.match(foreign, { status: 1, patched: false, kept: true }, 'another owner without capabilities: refused, file untouched')
  t.match(foreign.stderr, /cannot replace .*: EPERM/)
  t.match(patchWith(['chown'], [1000, 1000], 0o644), { status: 1, patched: false, kept: true }, 'CAP_CHOWN alone: the mode cannot be set on a file no longer ours')
  t.same(patchWith(['chown', 'fowner'], [1000, 1000], 0o644), { status: 0, stderr: '', patched: true, kept: true }, 'CAP_CHOWN and CAP_FOWNER: another owner kept')
  const unreadable = patchWith(['chown', 'fowner'], [1000, 1000], 0o640)
  t.match(unreadable, { status: 1, patched: false, kept: true }, 'a spec root may not read (another owner, no read for others): refused without CAP_DAC_READ_SEARCH')
  t.match(unreadable.stderr, /cannot open CDI spec .*: EACCES/)
  t.same(patchWith(['chown', 'fowner', 'dac_read_search'], [1000, 1000], 0o640), { status: 0, stderr: '', patched: true, kept: true }, 'which reads it')
})
