// The built single executable in a hostile environment: what a container
// image can put into a createContainer hook's environment when the hook has
// no env list of its own (runc passes the container's process.env then).
// None of it may run code, write a file, or stop the hook from working.
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { spawnSync, type SpawnSyncOptions } from 'node:child_process'
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { version } from '../../package.json'
import { readMountinfo } from '../../src/mountinfo'
import { FAKE_PARAMS, mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { elfHeader } from '../harness/file-checks'
import { scratchBundle, stateFor } from '../harness/scratch'
import { BASE_NODE, ELF_MACHINE, EXE, TARGET_ARCH } from '../harness/target'

// EXE and the pinned base binary it was built on, for this machine's
// architecture or the one test/system/arm64.ts names (test/harness/target.ts).
const NODE_MAJOR = 26

mountFakeDriver()
t.teardown(unmountFakeDriver)

/** Runs the executable as a runtime would: only `env`, state on stdin, cwd the rootfs. */
const run = (args: string[], env: Record<string, string>, opts: SpawnSyncOptions = {}) => {
  const res = spawnSync(EXE, args, { env, encoding: 'utf8', timeout: 20_000, ...opts })
  return { status: res.status, signal: res.signal, stdout: `${res.stdout}`, stderr: `${res.stderr}`, error: res.error }
}

/** Every file under `dir`, as paths relative to it. */
const filesUnder = (dir: string): string[] =>
  readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter(e => !e.isDirectory())
    .map(e => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort()

/** A script that leaves a marker file when anything runs it. */
const markerScript = (dir: string) => {
  const script = join(dir, 'payload.js')
  writeFileSync(script, `require('fs').writeFileSync(${JSON.stringify(join(dir, 'MARKER'))}, 'ran')\n`)
  writeFileSync(join(dir, 'payload.mjs'), `import { writeFileSync } from 'node:fs'\nwriteFileSync(${JSON.stringify(join(dir, 'MARKER'))}, 'ran')\n`)
  return script
}

t.test('a single executable on the pinned Node, within size', async t => {
  const elf = elfHeader(EXE)
  t.equal(elf.magic, '\x7fELF', 'an ELF binary, not a launcher script')
  t.equal(elf.machine, ELF_MACHINE[TARGET_ARCH], `built for ${TARGET_ARCH} (e_machine)`)
  t.ok(statSync(EXE).size <= 120e6, `${statSync(EXE).size} bytes <= 120 MB`)
  const basePkg = JSON.parse(readFileSync(join(dirname(BASE_NODE), '../package.json'), 'utf8')) as { version: string }
  t.equal(Number(basePkg.version.split('.')[0]), NODE_MAJOR)
  // No node on PATH and an empty environment: what a GPU node gives it.
  const res = run(['--version'], { PATH: '/nonexistent' })
  t.equal(res.status, 0, res.stderr)
  t.equal(res.stdout, `nvidia-procfs-hook ${version} (node v${basePkg.version})\n`)
  t.equal(res.stderr, '')
})

t.test('NODE_OPTIONS --require/--import: nothing runs', async t => {
  const dir = t.testdir({})
  const script = markerScript(dir)
  const probe = spawnSync(BASE_NODE, ['-e', '0'], { env: { NODE_OPTIONS: `--require ${script}` } })
  t.equal(probe.status, 0)
  t.ok(existsSync(join(dir, 'MARKER')), 'the payload runs under a plain node (the probe works)')
  const { rmSync } = await import('node:fs')
  rmSync(join(dir, 'MARKER'))
  for (const opt of [`--require ${script}`, `--import ${join(dir, 'payload.mjs')}`, '--inspect-brk=127.0.0.1:0']) {
    const res = run(['--version'], { NODE_OPTIONS: opt })
    t.equal(res.status, 0, `${opt}: ${res.stderr}`)
    t.match(res.stdout, /^nvidia-procfs-hook /)
  }
  t.notOk(existsSync(join(dir, 'MARKER')), 'no marker')
})

t.test('OPENSSL_CONF is never read (it can load any shared library)', async t => {
  const dir = t.testdir({})
  // A provider module the image would ship: OpenSSL dlopen()s it at start-up.
  const conf = `nodejs_conf = nc\nopenssl_conf = nc\n[nc]\nproviders = p\n[p]\nimage = img\n[img]\nmodule = ${dir}/provider.so\nactivate = 1\n`
  writeFileSync(join(dir, 'provider.cnf'), conf)
  const env = { OPENSSL_CONF: join(dir, 'provider.cnf'), OPENSSL_MODULES: dir, OPENSSL_ENGINES: dir }
  const probe = spawnSync(BASE_NODE, ['-e', '0'], { env, encoding: 'utf8' })
  t.equal(probe.signal, 'SIGABRT', 'a plain node tries to load the module and aborts (the probe works)')
  const res = run(['--version'], env)
  t.equal(res.status, 0, res.stderr)
  t.equal(res.stderr, '')
})

t.test('files Node would write: coverage, compile cache, warnings, REPL history', async t => {
  const dir = t.testdir({ cwd: {} })
  const env = {
    NODE_V8_COVERAGE: join(dir, 'coverage'),
    NODE_COMPILE_CACHE: join(dir, 'compile-cache'),
    NODE_REDIRECT_WARNINGS: join(dir, 'warnings'),
    NODE_PENDING_DEPRECATION: '1',
    NODE_REPL_HISTORY: join(dir, 'history'),
  }
  const res = run(['--version'], env, { cwd: join(dir, 'cwd') })
  t.equal(res.status, 0, res.stderr)
  t.notOk(existsSync(join(dir, 'coverage')), 'no coverage directory or file')
  // Node creates the compile cache directory before any of our code runs;
  // the single executable's code is never cached there.
  t.same(filesUnder(dir), [], 'not one file written')
})

t.test('REPL module, IPC channel, CA and ICU paths, thread pool: no code, no hang', async t => {
  const dir = t.testdir({})
  const script = markerScript(dir)
  const fifo = join(dir, 'fifo')
  spawnSync('/usr/bin/mkfifo', [fifo])
  // Each of these would block a plain open(): the hook must not read them at start-up.
  for (const [name, value] of [
    ['NODE_EXTRA_CA_CERTS', fifo],
    ['SSL_CERT_FILE', fifo],
    ['SSL_CERT_DIR', dir],
    ['NODE_ICU_DATA', fifo],
    ['ICU_TIMEZONE_FILES_DIR', dir],
    ['TZ', fifo],
    ['UV_THREADPOOL_SIZE', '1024'],
    ['NODE_CHANNEL_FD', '1'],
    ['NODE_UNIQUE_ID', '1'],
    ['NODE_PATH', dir],
    ['NODE_PRESERVE_SYMLINKS', '1'],
    ['NODE_TLS_REJECT_UNAUTHORIZED', '0'],
  ]) {
    const res = run(['--version'], { [name as string]: value as string }, { timeout: 5000 })
    t.equal(res.status, 0, `${name}: ${res.error?.message ?? res.stderr}`)
  }
  // Refused by Node before our code runs: the hook fails (so does the
  // container that asked for it), and the module is not loaded.
  const repl = run(['--version'], { NODE_REPL_EXTERNAL_MODULE: script })
  t.not(repl.status, 0)
  t.match(repl.stderr, /NODE_REPL_EXTERNAL_MODULE can't be used/)
  t.notOk(existsSync(join(dir, 'MARKER')), 'no marker')
})

t.test('the skip path with the state on an IPC-channel stdin', async t => {
  const { bundle } = scratchBundle(t)
  const res = run(['--stage', 'createContainer', '--source', '/nonexistent/nvidia'], { NODE_CHANNEL_FD: '0' }, { input: stateFor(bundle) })
  t.equal(res.status, 0, res.stderr)
  t.equal(res.stdout, '')
})

t.test('debug variables change only what is logged', async t => {
  const { bundle } = scratchBundle(t)
  const dir = t.testdir({})
  const env = { DEBUG: '*', DEBUG_DEPTH: '9', DEBUG_HIDE_DATE: '1', NODE_DEBUG: '*', NODE_DEBUG_NATIVE: 'SEA,MKSNAPSHOT' }
  const res = run(['--stage', 'createContainer', '--source', '/nonexistent/nvidia'], env, { input: stateFor(bundle), cwd: dir })
  t.equal(res.status, 0, res.stderr)
  t.equal(res.stdout, '')
  t.match(res.stderr, /nvidia-procfs-hook:hook source \/nonexistent\/nvidia: absent/)
  t.same(filesUnder(dir), [])
})

t.test('the mount path in a hostile environment: util-linux by absolute path, host unharmed', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  const dir = t.testdir({ bin: {} })
  const script = markerScript(dir)
  // A rootfs-controlled PATH with look-alike tools that would leave a marker.
  for (const tool of ['mount', 'umount', 'nsenter', 'flock', 'node']) {
    writeFileSync(join(dir, 'bin', tool), `#!/bin/sh\necho ran > ${join(dir, 'MARKER')}\n`)
    chmodSync(join(dir, 'bin', tool), 0o755)
  }
  mkdirSync(join(rootfs, 'proc'))
  const env = {
    PATH: `${join(dir, 'bin')}:/usr/bin:/bin`,
    NODE_OPTIONS: `--require ${script}`,
    NODE_V8_COVERAGE: join(dir, 'coverage'),
    NODE_REDIRECT_WARNINGS: join(dir, 'warnings'),
    OPENSSL_CONF: join(dir, 'missing.cnf'),
    LIBMOUNT_DEBUG: 'all',
    LIBMOUNT_MTAB: join(dir, 'mtab'),
    LIBMOUNT_FSTAB: join(dir, 'fstab'),
    LIBMOUNT_UTAB: join(dir, 'utab'),
    UV_THREADPOOL_SIZE: '1',
    HOME: dir,
    TMPDIR: dir,
  }
  const res = run(['--stage', 'createContainer'], env, { input: stateFor(bundle), cwd: rootfs })
  t.equal(res.status, 0, res.stderr)
  // Node reports the coverage collection it was told to stop; nothing else.
  t.equal(res.stderr.replace(/^Failed to get 'result' from coverage profile response:\n.*\n/, ''), '', 'LIBMOUNT_DEBUG did not reach util-linux')
  const target = join(rootfs, 'proc/driver/nvidia')
  const m = readMountinfo().filter(e => e.mountPoint === target)
  t.equal(m.length, 1, 'mounted')
  for (const o of ['ro', 'nosuid', 'nodev', 'noexec']) t.ok(m[0]?.options.includes(o), o)
  t.equal(readFileSync(join(target, 'params'), 'utf8'), FAKE_PARAMS)
  t.same(filesUnder(dir), ['bin/flock', 'bin/mount', 'bin/node', 'bin/nsenter', 'bin/umount', 'payload.js', 'payload.mjs'], 'no marker, nothing written')
})

// The executable exits at once when nothing is pending (src/main.ts), through
// exitCode when something is (a pipe's output, cdi --watch): either way the
// exit status and every line written must come out.
t.test('exit status and output, whether it exits at once (stderr a file) or drains a pipe', async t => {
  const dir = t.testdir({})
  const file = join(dir, 'stderr')
  for (const [args, status, said] of [
    [['--rootfs', '/nonexistent-rootfs'], 1, /^nvidia-procfs-hook: error: .*nonexistent-rootfs/],
    [['--no-such-flag'], 2, /^nvidia-procfs-hook: error: .*--no-such-flag/],
  ] as const) {
    const fd = openSync(file, 'w')
    const toFile = spawnSync(EXE, [...args], { env: {}, stdio: ['ignore', 'ignore', fd], timeout: 20_000 })
    closeSync(fd)
    t.equal(toFile.status, status, `${args[0]}: exit ${status}, stderr a file`)
    t.match(readFileSync(file, 'utf8'), said)
    const toPipe = run([...args], {})
    t.equal(toPipe.status, status, `${args[0]}: exit ${status}, stderr a pipe`)
    t.match(toPipe.stderr, said)
  }
  const help = run(['--help'], {})
  t.equal(help.status, 0)
  t.match(help.stdout, /^Usage:\n[\s\S]*\n$/, 'all of --help through a pipe')
  t.ok(help.stdout.length > 1000, `${help.stdout.length} characters`)
})
