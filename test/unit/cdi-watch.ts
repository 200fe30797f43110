import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { appendFileSync, chmodSync, mkdirSync, mkdtempSync, rmdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DEBOUNCE_MS, POLL_MS, locate, watchSpecs } from '../../src/cdi-watch'
import { main, processIO } from '../../src/cli'
import type { HookIO } from '../../src/hook'
import { setSpecDir } from '../harness/cdi-dirs'

// The watcher in-process, on real files in tmpfs scratch directories of a
// private mount namespace: every way a spec or its directory changes.
// test/system/cdi-watch.ts runs the executable (latency, CPU, exit codes).

const FIXTURES = join(__dirname, '../fixtures/cdi')
const CTK = readFileSync(join(FIXTURES, 'nvidia-ctk.yaml'), 'utf8')
const PLUGIN = readFileSync(join(FIXTURES, 'k8s-device-plugin.json'), 'utf8')
// The module object itself (an import * is a frozen copy): what src/cdi-watch.ts calls.
const nodeFs = require('node:fs') as typeof fs
const sleep = (ms: number) => new Promise(r => setTimeout(r, ms))
const mount = (...args: string[]) => execFileSync('/usr/bin/mount', args)
const umount = (path: string) => execFileSync('/usr/bin/umount', [path])

/** A tmpfs scratch directory (unmounted at teardown) and an executable to register. */
const scratch = (t: Test) => {
  const dir = mkdtempSync(join(tmpdir(), 'nph-watch-'))
  mount('-t', 'tmpfs', '-o', 'mode=0755,size=4m', 'nph-test-watch', dir)
  t.teardown(() => {
    execFileSync('/usr/bin/umount', ['-R', dir])
    rmdirSync(dir)
  })
  const binary = join(dir, 'nph')
  writeFileSync(binary, '#!/bin/sh\n')
  chmodSync(binary, 0o755)
  return { dir, binary }
}

/** `cdi patch --watch ARGS` in this process; its output, and a way to wait on it. */
const startWatch = (t: Test, args: string[]) => {
  const out: string[] = []
  const err: string[] = []
  const io: HookIO = { ...processIO(), out: l => out.push(l), err: l => err.push(l) }
  const code = main(['cdi', 'patch', '--watch', ...args], io)
  t.teardown(() => {
    // Only while ours listens: with tap's alone, a SIGTERM event ends the process.
    if (code === 0 && out.at(-1) !== 'stopped watching') process.emit('SIGTERM')
    process.exitCode = 0
  })
  const until = async (what: string, cond: () => boolean, ms = 3000) => {
    for (const end = Date.now() + ms; !cond() && Date.now() < end; ) await sleep(20)
    t.ok(cond(), what)
  }
  const patches = (file: string) => out.filter(l => l.startsWith(`patched ${file} `)).length
  return { code, out, err, until, patches }
}

const isPatched = (file: string, binary: string) => readFileSync(file, 'utf8').includes(binary)

t.test('locate: the nearest existing directory; a file in the way counts as absent', async t => {
  const { dir } = scratch(t)
  writeFileSync(join(dir, 'file'), '')
  t.equal(locate(join(dir, 'a/b/c')).path, dir)
  t.equal(locate(join(dir, 'file/x')).path, dir)
  t.equal(locate(join(dir, 'file')).path, dir)
  t.equal(locate('/').path, '/')
  symlinkSync('loop', join(dir, 'loop'))
  t.throws(() => locate(join(dir, 'loop')), { code: 'ELOOP' })
})

t.test('specs: created, rewritten in place, renamed over, written in many small writes; our own writes and other names ignored', async t => {
  const { dir, binary } = scratch(t)
  const specs = join(dir, 'cdi')
  mkdirSync(specs)
  writeFileSync(join(specs, 'nvidia.yaml'), CTK)
  const w = startWatch(t, ['--binary', binary, specs])
  t.equal(w.code, 0, 'returns; the watcher runs on')
  t.same(w.out, [`patched ${specs}/nvidia.yaml (1 hooks list)`, `watching ${specs}`], 'everything present patched first')
  const spec = join(specs, 'k8s.json')

  writeFileSync(spec, PLUGIN)
  await w.until('a new spec patched', () => w.patches(spec) === 1)
  // k8s-device-plugin style: a new file renamed over the spec.
  writeFileSync(join(specs, '.k8s.json.new'), PLUGIN)
  renameSync(join(specs, '.k8s.json.new'), spec)
  await w.until('a spec renamed over patched', () => w.patches(spec) === 2)
  // In place, in many small writes: one patch, once the writer is done.
  writeFileSync(spec, '')
  for (let i = 0; i < PLUGIN.length; i += 64) {
    appendFileSync(spec, PLUGIN.slice(i, i + 64))
    await sleep(DEBOUNCE_MS / 20)
  }
  await w.until('the slow rewrite patched', () => w.patches(spec) === 3)
  writeFileSync(join(specs, 'notes.txt'), 'x')
  await sleep(DEBOUNCE_MS * 3)
  t.equal(w.patches(spec), 3, 'once: our own writes and other names cause nothing')
  t.ok(isPatched(spec, binary))
  writeFileSync(spec, PLUGIN)
  rmSync(spec)
  await sleep(DEBOUNCE_MS * 2)
  t.same(w.err, [], 'a spec removed before it was read is no error')

  // A change still in its quiet time when SIGTERM comes is dropped.
  const listeners = [process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')]
  writeFileSync(spec, PLUGIN)
  await sleep(DEBOUNCE_MS / 4)
  process.emit('SIGTERM')
  t.equal(w.out.at(-1), 'stopped watching')
  await sleep(DEBOUNCE_MS * 2)
  t.equal(w.patches(spec), 3, 'nothing after SIGTERM')
  t.equal(process.exitCode ?? 0, 0, 'exit 0')
  t.same([process.listenerCount('SIGTERM'), process.listenerCount('SIGINT')], listeners.map(n => n - 1), 'signal handlers removed')
})

t.test('a FILE: that name only; a burst is one patch; SIGINT stops it', async t => {
  const { dir, binary } = scratch(t)
  const file = join(dir, 'k8s.json')
  writeFileSync(file, PLUGIN)
  const w = startWatch(t, ['--binary', binary, file])
  t.same(w.out, [`patched ${file} (1 hooks list)`, `watching ${file}`])
  for (let i = 0; i < 3; i++) writeFileSync(file, PLUGIN)
  writeFileSync(join(dir, 'other.yaml'), CTK)
  await w.until('the file re-patched', () => w.out.length === 3)
  await sleep(DEBOUNCE_MS * 2)
  t.same(w.out.slice(2), [`patched ${file} (1 hooks list)`], 'once, and only that file')
  process.emit('SIGINT')
  t.equal(w.out.at(-1), 'stopped watching')
})

t.test('directories: absent at start, created later, removed and re-created, renamed over, mounted over', async t => {
  const { dir, binary } = scratch(t)
  const specs = join(dir, 'var/run/cdi')
  const file = join(dir, 'etc/cdi/k8s.json')
  const w = startWatch(t, ['--binary', binary, specs, file])
  t.same(w.out, [
    `${specs}: does not exist; waiting for it (watching ${dir})`,
    `${dir}/etc/cdi: does not exist; waiting for it (watching ${dir})`,
    `watching ${specs}, ${file}`,
  ])
  const spec = join(specs, 'nvidia.yaml')

  // Created later, a level at a time (mkdir -p, then the spec).
  mkdirSync(specs, { recursive: true })
  writeFileSync(spec, CTK)
  await w.until('a spec in a directory created later patched', () => w.patches(spec) === 1)
  t.ok(w.out.includes(`${specs}: appeared; watching it`), 'followed down')
  mkdirSync(join(dir, 'etc/cdi'), { recursive: true })
  writeFileSync(file, PLUGIN)
  writeFileSync(join(dir, 'etc/cdi/other.json'), PLUGIN)
  await w.until('the FILE in a directory created later patched', () => w.patches(file) === 1)

  // Removed and re-created.
  rmSync(specs, { recursive: true })
  await w.until('the removal seen', () => w.out.at(-1) === `${specs}: gone; waiting for it (watching ${dir}/var/run)`)
  mkdirSync(specs)
  writeFileSync(spec, CTK)
  await w.until('patched in the re-created directory', () => w.patches(spec) === 2)

  // Replaced by a rename: a directory prepared elsewhere, renamed over the (empty) old one.
  const next = join(dir, 'var/run/cdi.new')
  mkdirSync(next)
  writeFileSync(join(next, 'nvidia.yaml'), CTK)
  rmSync(spec)
  renameSync(next, specs)
  await w.until('patched in the directory renamed over', () => w.patches(spec) === 3)

  // A tmpfs mounted over it: no inotify event, the (dev, ino) poll sees it.
  mount('-t', 'tmpfs', '-o', 'mode=0755,size=1m', 'nph-test-over', specs)
  writeFileSync(spec, CTK)
  const mounted = Date.now()
  await w.until('patched on the tmpfs mounted over it', () => w.patches(spec) === 4, POLL_MS * 3)
  t.ok(Date.now() - mounted < POLL_MS + DEBOUNCE_MS + 500, 'within a poll and a quiet time')
  t.ok(w.out.includes(`${specs}: replaced; watching the new one`))
  writeFileSync(spec, CTK)
  await w.until('rewrites on it patched', () => w.patches(spec) === 5)
  umount(specs)
  await w.until('back to the one underneath', () => w.out.filter(l => l === `${specs}: replaced; watching the new one`).length === 2, POLL_MS * 3)
  t.ok(isPatched(spec, binary))
  t.same(w.err, [])
})

t.test('default directories are followed even when absent', async t => {
  const { dir, binary } = scratch(t)
  mkdirSync(join(dir, 'specs'))
  const hideEtc = setSpecDir('/etc/cdi')
  t.teardown(setSpecDir('/var/run/cdi'))
  const w = startWatch(t, ['--binary', binary])
  t.match(w.out, [/^\/etc\/cdi: does not exist; waiting for it \(watching \/etc\)$/, /^\/var\/run\/cdi: does not exist; waiting for it \(watching \/var\/run\)$/, 'watching /etc/cdi, /var/run/cdi'])
  writeFileSync(join(dir, 'specs/nvidia.yaml'), CTK)
  // A mount over /etc (the test's overlay) is what makes /etc/cdi appear here: the poll sees /etc replaced.
  hideEtc()
  t.teardown(setSpecDir('/etc/cdi', join(dir, 'specs')))
  await w.until('/etc/cdi/nvidia.yaml patched', () => w.patches('/etc/cdi/nvidia.yaml') === 1, POLL_MS * 3)
  t.same(w.err, [])
})

/** Runs `cdi patch --watch` expecting the fatal path; what it said. */
const fatally = async (t: Test, args: string[], then: (w: ReturnType<typeof startWatch>) => unknown = () => {}) => {
  const w = startWatch(t, args)
  await then(w)
  await w.until('stopped', () => w.out.at(-1) === 'stopped watching', POLL_MS * 3)
  t.equal(process.exitCode, 1, 'exit code 1')
  process.exitCode = 0
  t.equal(w.err.length, 1, 'one line')
  return w.err[0]
}

t.test('a directory that cannot be watched ends the watcher: one line, exit 1', async t => {
  const { dir, binary } = scratch(t)
  const specs = join(dir, 'cdi')
  symlinkSync('cdi', specs)
  t.same(startWatch(t, ['--binary', binary, specs]).err, [`nvidia-procfs-hook: error: ${specs}: ELOOP`], 'named at start: as cdi patch says it')
  const sigterm = process.listenerCount('SIGTERM')
  const err: string[] = []
  let firstPass = false
  watchSpecs([{ dir: specs, accepts: () => true, label: specs }], new Map(), () => {}, { ...processIO(), out: () => {}, err: l => err.push(l) }, () => (firstPass = true))
  t.same(err, [`nvidia-procfs-hook: error: cannot watch ${specs}: ELOOP; exiting so that the supervisor restarts it`], 'the watcher at start')
  t.equal(process.exitCode, 1)
  process.exitCode = 0
  t.notOk(firstPass, 'no first pass')
  t.equal(process.listenerCount('SIGTERM'), sigterm, 'ours removed')
  rmSync(specs)

  mkdirSync(specs)
  const later = await fatally(t, ['--binary', binary, specs], () => {
    rmSync(specs, { recursive: true })
    symlinkSync('cdi', specs)
  })
  t.equal(later, `nvidia-procfs-hook: error: cannot watch ${specs}: ELOOP; exiting so that the supervisor restarts it`, 'later')
  rmSync(specs)

  // Seen but not writable: a stale bind in a sandbox, or a read-only mount.
  mkdirSync(specs)
  mount('-t', 'tmpfs', '-o', 'ro,size=1m', 'nph-test-ro', specs)
  t.equal(
    await fatally(t, ['--binary', binary, specs]),
    `nvidia-procfs-hook: error: ${specs} is on a read-only filesystem here (a stale sandbox bind, or mounted read-only); exiting so that the supervisor restarts it`,
  )
  umount(specs)

  const realAccess = nodeFs.accessSync
  const access = t.capture(nodeFs, 'accessSync', ((path, mode) => {
    if (path === specs) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' })
    realAccess(path, mode)
  }) as typeof fs.accessSync)
  t.equal(await fatally(t, ['--binary', binary, specs]), `nvidia-procfs-hook: error: cannot watch ${specs}: EACCES; exiting so that the supervisor restarts it`)
  access.restore()
})

t.test('watch errors: a lost race is retried, a limit is fatal, a watcher error is re-armed or fatal', async t => {
  const { dir, binary } = scratch(t)
  const specs = join(dir, 'cdi')
  mkdirSync(specs)
  const realWatch = nodeFs.watch
  const watchers: fs.FSWatcher[] = []
  let failures: string[] = []
  t.capture(nodeFs, 'watch', ((...args: Parameters<typeof fs.watch>) => {
    const code = failures.shift()
    if (code !== undefined) throw Object.assign(new Error(`${code}: injected`), { code })
    const w = realWatch(...args)
    watchers.push(w)
    return w
  }) as typeof fs.watch)

  failures = ['ENOENT', 'ENOENT']
  const w = startWatch(t, ['--binary', binary, specs])
  t.same(w.out, [`watching ${specs}`], 'removed between stat and watch: looked at again')
  // The watcher fails (inotify queue overflow, say): a new one is armed and what is there handed over.
  writeFileSync(join(specs, 'nvidia.yaml'), CTK)
  watchers.at(-1)?.emit('error', new Error('injected overflow'))
  await w.until('re-armed and patched', () => w.patches(join(specs, 'nvidia.yaml')) === 1)
  t.same(w.err, [])
  // Now it cannot be re-armed.
  failures = ['ENOSPC']
  watchers.at(-1)?.emit('error', new Error('injected overflow'))
  t.same(w.err, [`nvidia-procfs-hook: error: watching ${specs}: injected overflow; cannot watch ${specs}: ENOSPC; exiting so that the supervisor restarts it`])
  t.equal(w.out.at(-1), 'stopped watching')
  t.equal(process.exitCode, 1)
  process.exitCode = 0

  failures = Array(30).fill('ENOENT')
  t.equal(await fatally(t, ['--binary', binary, specs]), `nvidia-procfs-hook: error: cannot watch ${specs}: ENOENT; exiting so that the supervisor restarts it`, 'a race lost every time')
  failures = ['ENOSPC']
  t.equal(await fatally(t, ['--binary', binary, specs, join(dir, 'two')]), `nvidia-procfs-hook: error: cannot watch ${specs}: ENOSPC; exiting so that the supervisor restarts it`, 'the first fatal stops the rest')
})

t.test('reading a re-armed directory fails: fatal; a directory gone again meanwhile: waited for', async t => {
  const { dir, binary } = scratch(t)
  const specs = join(dir, 'cdi')
  const realReaddir = nodeFs.readdirSync
  let fail: string | undefined
  t.capture(nodeFs, 'readdirSync', ((...args: Parameters<typeof fs.readdirSync>) => {
    if (fail !== undefined && args[0] === specs) throw Object.assign(new Error(`${fail}: injected`), { code: fail })
    return realReaddir(...args)
  }) as typeof fs.readdirSync)
  fail = 'ENOENT'
  const w = startWatch(t, ['--binary', binary, specs])
  mkdirSync(specs)
  await w.until('appeared', () => w.out.at(-1) === `${specs}: appeared; watching it`)
  t.same(w.err, [])
  process.emit('SIGTERM')
  rmSync(specs, { recursive: true })
  fail = 'EIO'
  const said = await fatally(t, ['--binary', binary, specs], () => mkdirSync(specs))
  t.equal(said, `nvidia-procfs-hook: error: cannot watch ${specs}: EIO; exiting so that the supervisor restarts it`)
})

t.test('a bug while handling a spec ends the watcher; one in the first pass is reported by main', async t => {
  const { dir, binary } = scratch(t)
  const specs = join(dir, 'cdi')
  mkdirSync(specs)
  const file = join(specs, 'nvidia.yaml')
  const realFsync = nodeFs.fsyncSync
  let fail = false
  // The directory's fsync, after the rename: outside replaceFile's error handling, as a bug would be.
  t.capture(nodeFs, 'fsyncSync', (fd: number) => (fail && nodeFs.fstatSync(fd).isDirectory() ? (() => { throw new Error('injected') })() : realFsync(fd)))
  const said = await fatally(t, ['--binary', binary, specs], () => {
    fail = true
    writeFileSync(file, CTK)
  })
  t.equal(said, `nvidia-procfs-hook: error: internal error handling ${file}: injected; exiting so that the supervisor restarts it`)
  const sigterm = process.listenerCount('SIGTERM')
  writeFileSync(file, CTK)
  const w = startWatch(t, ['--binary', binary, specs])
  t.same({ code: w.code, err: w.err }, { code: 1, err: ['nvidia-procfs-hook: internal error: injected'] })
  t.equal(w.out.at(-1), 'stopped watching', 'nothing left running')
  t.equal(process.listenerCount('SIGTERM'), sigterm)
  fail = false
})

t.test('watchSpecs: stop is idempotent', async t => {
  const { dir } = scratch(t)
  const out: string[] = []
  const stop = watchSpecs([{ dir, accepts: () => true, label: dir }], new Map(), () => {}, { ...processIO(), out: l => out.push(l) }, () => {})
  stop()
  stop()
  t.same(out, [`watching ${dir}`, 'stopped watching'])
})
