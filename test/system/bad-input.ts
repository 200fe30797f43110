// Bad input from runtimes and users: a named corpus (state, config.json,
// argv), then a seeded fuzzer. In-process through main() for volume, and a
// share of it through the executable. Every run must end with exit 0, 1 or
// 2, at most one stderr line starting "nvidia-procfs-hook: ", no internal
// error, and nothing left behind but what a successful run makes.
//   NPH_FUZZ_CASES (default 2000), NPH_FUZZ_EXEC_CASES (100), NPH_FUZZ_SEED;
//   `npm run fuzz` runs many more.
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'

const CASES = Number(process.env.NPH_FUZZ_CASES ?? 2000)
const EXEC_CASES = Number(process.env.NPH_FUZZ_EXEC_CASES ?? 100)
// Before the re-run, and sized to the cases: tap's default 30 s is far too short.
t.setTimeout(180_000 + CASES * 30 + EXEC_CASES * 300)
enterPrivateMountNamespace()

import { execFileSync, spawnSync } from 'node:child_process'
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { main, oneLine } from '../../src/cli'
import type { HookIO } from '../../src/hook'
import { HOOK, HOOK_ENV, mountsIn, PREFIX, stderrLines, treeFingerprint } from '../harness/containment'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { makeCase, rng, type Scratch } from '../harness/fuzz-input'
import { REQUIRED_OPTIONS } from '../../src/mountinfo'

mountFakeDriver()
t.teardown(unmountFakeDriver)

const top = mkdtempSync(join(tmpdir(), 'nph-bad-input-'))
t.teardown(() => {
  for (const m of mountsIn(top)) execFileSync('/usr/bin/umount', ['-l', m.mountPoint])
  execFileSync('/usr/bin/rm', ['-rf', '--one-file-system', top])
})
const s: Scratch = {
  bundle: join(top, 'bundle'),
  rootfs: join(top, 'bundle/rootfs'),
  stateFile: join(top, 'state.json'),
  logFile: join(top, 'logs/run.log'),
  bait: join(top, 'bait'),
}
mkdirSync(s.rootfs, { recursive: true })
mkdirSync(join(top, 'logs'))
mkdirSync(s.bait)
writeFileSync(join(s.bait, 'file'), 'host data\n')
const CONFIG = join(s.bundle, 'config.json')
const goodConfig = JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' } })
const goodState = JSON.stringify({ ociVersion: '1.0.2', id: 'bad-input', status: 'creating', pid: -1, bundle: s.bundle })

/** Everything in the scratch dir but the rootfs's contents (the hook's to change) and the log (it appends). */
const outside = () => {
  const f = treeFingerprint(top, s.rootfs)
  delete f['logs/run.log']
  delete f.logs
  return f
}
const pristine = outside()

/** Puts the rootfs back to empty: detach what a successful run mounted, remove what it made. */
const reset = () => {
  for (const m of mountsIn(s.rootfs)) execFileSync('/usr/bin/umount', ['-l', m.mountPoint])
  rmSync(join(s.rootfs, 'proc'), { recursive: true, force: true })
  writeFileSync(CONFIG, goodConfig)
}
reset()

interface Ran {
  code: number
  /** What the run said on stderr, one entry per line as the executable writes it. */
  err: string[]
  out: string[]
}

/** main() in this process, stdin from a file, no namespace entering (the probe says pids are gone). */
const runInProcess = (argv: string[], stdin: Buffer, tty = false): Ran => {
  writeFileSync(s.stateFile, stdin)
  const fd = openSync(s.stateFile, 'r')
  const err: string[] = []
  const out: string[] = []
  const io: HookIO = {
    stdin: fd,
    isTTY: () => tty,
    out: l => out.push(l),
    err: l => err.push(l),
    probe: { mountNamespace: () => undefined, isRunscSandbox: () => false },
    self: [HOOK],
  }
  try {
    return { code: main(argv, io), err, out }
  } finally {
    closeSync(fd)
  }
}

const runExecutable = (argv: string[], stdin: Buffer): Ran => {
  writeFileSync(s.stateFile, stdin)
  const fd = openSync(s.stateFile, 'r')
  try {
    const r = spawnSync(HOOK, argv, { stdio: [fd, 'pipe', 'pipe'], env: HOOK_ENV, encoding: 'utf8', timeout: 30_000 })
    if (r.error) throw r.error
    return { code: r.status ?? -1, err: stderrLines(r.stderr), out: r.stdout === '' ? [] : [r.stdout] }
  } finally {
    closeSync(fd)
  }
}

/** The contract every run keeps, whatever it was given. Returns a failure description or undefined. */
const breach = (r: Ran): string | undefined => {
  if (![0, 1, 2].includes(r.code)) return `exit ${r.code}`
  if (r.err.length > 1) return `${r.err.length} stderr lines: ${JSON.stringify(r.err)}`
  if (r.err.some(l => !l.startsWith(PREFIX))) return `stderr not ours: ${JSON.stringify(r.err)}`
  if (r.err.some(l => l.startsWith(`${PREFIX}internal error`))) return `internal error: ${r.err[0]}`
  const ms = mountsIn(top)
  if (r.code !== 0 && ms.length) return `failed run left mounts: ${ms.map(m => m.mountPoint).join(', ')}`
  if (ms.length > 1) return `${ms.length} mounts`
  for (const m of ms) {
    if (m.mountPoint !== join(s.rootfs, 'proc/driver/nvidia')) return `mount at ${m.mountPoint}`
    const lacking = REQUIRED_OPTIONS.filter(o => !m.options.includes(o))
    if (lacking.length) return `mount lacks ${lacking.join(',')}`
  }
  const now = outside()
  for (const k of new Set([...Object.keys(now), ...Object.keys(pristine)])) {
    // Rewritten by the test itself before each run; a new entry anywhere still shows as a new key.
    if (['.', 'bundle', 'state.json', 'bundle/config.json'].includes(k)) continue
    if (now[k] !== pristine[k]) return `changed outside the rootfs: ${k}`
  }
  return undefined
}

interface Named {
  name: string
  argv?: string[]
  stdin?: Buffer | string
  config?: Buffer | string | ((path: string) => void)
  tty?: boolean
  exit: number
  /** The stderr line, or undefined for silence. */
  says?: RegExp
}

const state = (o: Record<string, unknown>) => JSON.stringify({ ociVersion: '1.0.2', id: 'c', status: 'creating', pid: -1, bundle: s.bundle, ...o })
const BAD_STATE = (m: string) => new RegExp(`^nvidia-procfs-hook: error: invalid OCI state from stdin: ${m}`)
const BAD_CONFIG = (m: string) => new RegExp(`^nvidia-procfs-hook: error: .*config\\.json:? ${m}`)
const MB5 = 5 * 1024 * 1024

const CORPUS: Named[] = [
  { name: 'state: empty', stdin: '', exit: 1, says: BAD_STATE('empty input') },
  { name: 'state: whitespace only', stdin: ' \n\t ', exit: 1, says: BAD_STATE('empty input') },
  { name: 'state: truncated', stdin: goodState.slice(0, 30), exit: 1, says: BAD_STATE('not JSON') },
  { name: 'state: truncated to one byte', stdin: '{', exit: 1, says: BAD_STATE('not JSON') },
  { name: 'state: null', stdin: 'null', exit: 1, says: BAD_STATE('expected a JSON object, got null$') },
  { name: 'state: an array', stdin: '[]', exit: 1, says: BAD_STATE('expected a JSON object, got array$') },
  { name: 'state: a string', stdin: '"creating"', exit: 1, says: BAD_STATE('expected a JSON object, got string$') },
  { name: 'state: a number', stdin: '42', exit: 1, says: BAD_STATE('expected a JSON object, got number$') },
  { name: 'state: id a number', stdin: state({ id: 7 }), exit: 1, says: BAD_STATE('"id" must be a string, got number$') },
  { name: 'state: id missing', stdin: state({ id: undefined }), exit: 1, says: BAD_STATE('missing "id"$') },
  { name: 'state: status unknown', stdin: state({ status: 'paused' }), exit: 1, says: BAD_STATE('"status" must be one of') },
  { name: 'state: bundle relative', stdin: state({ bundle: 'bundle' }), exit: 1, says: BAD_STATE('"bundle" must be an absolute path') },
  { name: 'state: bundle an object', stdin: state({ bundle: { path: s.bundle } }), exit: 1, says: BAD_STATE('"bundle" must be a string, got object$') },
  { name: 'state: bundle with a NUL byte', stdin: state({ bundle: `${s.bundle}\0/x` }), exit: 1, says: BAD_STATE('"bundle" contains a NUL byte$') },
  { name: 'state: bundle with a newline (escaped in the one line)', stdin: state({ bundle: `${s.bundle}\n/x` }), exit: 1, says: /^nvidia-procfs-hook: error: bundle config .*\n\/x\/config\.json does not exist$/ },
  { name: 'state: pid a string', stdin: state({ pid: '1' }), exit: 1, says: BAD_STATE('"pid" must be an integer, got string$') },
  { name: 'state: pid fractional', stdin: state({ pid: 1.5 }), exit: 1, says: BAD_STATE('"pid" must be an integer, got number$') },
  { name: 'state: pid beyond 2^53', stdin: state({ pid: 2 ** 60 }), exit: 1, says: BAD_STATE('"pid" must be an integer') },
  { name: 'state: root an array', stdin: state({ root: [] }), exit: 1, says: BAD_STATE('"root" must be a string, got array$') },
  { name: 'state: raw NUL byte in the text', stdin: Buffer.concat([Buffer.from('{"id":'), Buffer.from([0]), Buffer.from('"x"}')]), exit: 1, says: BAD_STATE('not JSON') },
  { name: 'state: 5 MB (bounded read)', stdin: `{"pad":"${'x'.repeat(MB5)}"}`, exit: 1, says: /^nvidia-procfs-hook: error: state on stdin is larger than 4194304 bytes$/ },
  { name: 'state: 200,000 nested arrays', stdin: '['.repeat(200_000) + ']'.repeat(200_000), exit: 1, says: BAD_STATE('(expected a JSON object, got array|not JSON)') },
  { name: 'state: 100,000 nested objects', stdin: '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000), exit: 1, says: BAD_STATE('(missing "id"|not JSON)') },
  { name: 'state: unknown fields of every type are ignored', stdin: state({ extra: { deep: [1, { x: null }] }, annotations: { a: 'b' }, 'x\u0000y': 1 }), exit: 0 },
  { name: 'state: invalid UTF-8 in a string (decoded with U+FFFD)', stdin: Buffer.concat([Buffer.from(state({}).slice(0, -1) + ',"note":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), exit: 0 },
  { name: 'state: duplicate keys (the last one counts)', stdin: state({}).replace('{', '{"bundle":"relative",'), exit: 0 },
  { name: 'state: a byte-order mark', stdin: '\ufeff' + goodState, exit: 1, says: BAD_STATE('not JSON') },
  { name: 'config: missing', stdin: goodState, config: p => rmSync(p), exit: 1, says: /^nvidia-procfs-hook: error: bundle config .*\/config\.json does not exist$/ },
  { name: 'config: empty', stdin: goodState, config: '', exit: 1, says: BAD_CONFIG('not JSON') },
  { name: 'config: truncated', stdin: goodState, config: goodConfig.slice(0, 20), exit: 1, says: BAD_CONFIG('not JSON') },
  { name: 'config: null', stdin: goodState, config: 'null', exit: 1, says: BAD_CONFIG('expected a JSON object$') },
  { name: 'config: an array', stdin: goodState, config: '[{"root":{"path":"rootfs"}}]', exit: 1, says: BAD_CONFIG('expected a JSON object$') },
  { name: 'config: no root', stdin: goodState, config: '{"ociVersion":"1.0.2"}', exit: 1, says: BAD_CONFIG('missing "root"$') },
  { name: 'config: root null', stdin: goodState, config: '{"root":null}', exit: 1, says: BAD_CONFIG('"root.path" must be a non-empty string$') },
  { name: 'config: root.path a number', stdin: goodState, config: '{"root":{"path":7}}', exit: 1, says: BAD_CONFIG('"root.path" must be a non-empty string$') },
  { name: 'config: root.path empty', stdin: goodState, config: '{"root":{"path":""}}', exit: 1, says: BAD_CONFIG('"root.path" must be a non-empty string$') },
  { name: 'config: root.path with a NUL byte', stdin: goodState, config: '{"root":{"path":"rootfs\\u0000x"}}', exit: 1, says: BAD_CONFIG('"root.path" must be a non-empty string$') },
  { name: 'config: 5 MB (bounded read)', stdin: goodState, config: `{"pad":"${'x'.repeat(MB5)}"}`, exit: 1, says: /larger than 4194304 bytes$/ },
  { name: 'config: a symlink to /dev/zero (bounded, never hangs)', stdin: goodState, config: p => (rmSync(p), symlinkSync('/dev/zero', p)), exit: 1, says: /larger than 4194304 bytes$/ },
  { name: 'config: a fifo with no writer (never hangs)', stdin: goodState, config: p => (rmSync(p), execFileSync('/usr/bin/mkfifo', [p])), exit: 1, says: BAD_CONFIG('not JSON') },
  { name: 'config: a directory', stdin: goodState, config: p => (rmSync(p), mkdirSync(p)), exit: 1, says: /^nvidia-procfs-hook: error: cannot read bundle config .*config\.json: EISDIR/ },
  { name: 'config: 100,000 nested objects', stdin: goodState, config: '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000), exit: 1, says: BAD_CONFIG('(missing "root"|not JSON)') },
  { name: 'config: unknown fields everywhere are ignored', stdin: goodState, config: JSON.stringify({ root: { path: 'rootfs', x: 1 }, hooks: { createContainer: [{}] }, zzz: [null] }), exit: 0 },
  { name: 'argv: unknown option', argv: ['--bogus'], stdin: goodState, exit: 2, says: /^nvidia-procfs-hook: error: hook: unknown option --bogus$/ },
  { name: 'argv: unknown command', argv: ['bogus'], stdin: goodState, exit: 2, says: /^nvidia-procfs-hook: error: unknown command "bogus"; see --help$/ },
  { name: 'argv: bad stage', argv: ['--stage', 'poststop'], stdin: goodState, exit: 2, says: /--stage must be one of prestart, createRuntime, createContainer$/ },
  { name: 'argv: stage without a value', argv: ['--stage'], stdin: goodState, exit: 2, says: /--stage needs a value$/ },
  { name: 'argv: relative --state', argv: ['--state', 'state.json'], stdin: goodState, exit: 2, says: /--state must be an absolute path$/ },
  { name: 'argv: --state twice', argv: ['--state', s.stateFile, '--state', s.stateFile], stdin: goodState, exit: 2, says: /--state given more than once$/ },
  { name: 'argv: --state with --rootfs', argv: ['--state', s.stateFile, '--rootfs', s.rootfs], stdin: goodState, exit: 2, says: /--state cannot be combined with --bundle or --rootfs$/ },
  { name: 'argv: a stray word', argv: ['hook', 'extra'], stdin: goodState, exit: 2, says: /unexpected argument "extra"$/ },
  { name: 'argv: --state that does not exist', argv: ['--state', '/nonexistent-nph/state.json'], stdin: '', exit: 1, says: /^nvidia-procfs-hook: error: state file \/nonexistent-nph\/state\.json does not exist$/ },
  { name: 'argv: a terminal on stdin and nothing else', argv: [], stdin: '', tty: true, exit: 2, says: /expected the OCI state on stdin/ },
  // A log that cannot be opened is a warning: the mount is made all the same.
  { name: 'argv: --log-file is a directory', argv: ['--log-file', s.bait], stdin: goodState, exit: 0, says: /^nvidia-procfs-hook: warning: cannot open log file .*: EISDIR; this run is not logged$/ },
]

const runNamed = (t: Test, c: Named, how: 'in-process' | 'executable') => {
  reset()
  if (typeof c.config === 'function') c.config(CONFIG)
  else if (c.config !== undefined) writeFileSync(CONFIG, c.config)
  const stdin = Buffer.isBuffer(c.stdin) ? c.stdin : Buffer.from(c.stdin ?? '')
  const r = how === 'in-process' ? runInProcess(c.argv ?? ['--stage', 'createContainer'], stdin, c.tty) : runExecutable(c.argv ?? ['--stage', 'createContainer'], stdin)
  // In-process the message is one call; the executable escapes control characters to keep it one line.
  const said = how === 'in-process' ? r.err : r.err.map(l => l.replace(/\\x0a/g, '\n'))
  t.equal(r.code, c.exit, `${how}: exit ${c.exit}`)
  if (c.says) t.match(said, [c.says], `${how}: says why`)
  else t.same(said, [], `${how}: silent`)
  t.equal(breach(r), undefined, `${how}: contract kept`)
  if (c.exit === 0) t.equal(mountsIn(s.rootfs).length, 1, `${how}: mounted`)
  rmSync(CONFIG, { recursive: true, force: true })
}

t.test('stderr lines: control characters are escaped, one trailing newline dropped', async t => {
  t.equal(oneLine('nvidia-procfs-hook: error: /a\nb\tc\u0000d\u007f\n'), 'nvidia-procfs-hook: error: /a\\x0ab\\x09c\\x00d\\x7f')
  t.equal(oneLine('plain'), 'plain')
})

t.test('named corpus, in-process', async t => {
  for (const c of CORPUS) t.test(c.name, async t => runNamed(t, c, 'in-process'))
})

t.test('named corpus, through the executable', async t => {
  for (const c of CORPUS.filter(c => !c.tty)) t.test(c.name, async t => runNamed(t, c, 'executable'))
})

const fuzz = (t: Test, how: 'in-process' | 'executable', count: number, seed: number) => {
  const r = rng(seed)
  const tally: Record<string, number> = {}
  const failures: string[] = []
  for (let i = 0; i < count; i++) {
    reset()
    const c = makeCase(r, s)
    if (c.config) writeFileSync(CONFIG, c.config)
      // exec(2) cannot pass a NUL byte in an argument; in-process cases keep them.
    const ran = how === 'in-process' ? runInProcess(c.argv, c.stdin) : runExecutable(c.argv.map(a => a.replace(/\0/g, '')), c.stdin)
    const bad = breach(ran)
    const key = `exit ${ran.code}`
    tally[key] = (tally[key] ?? 0) + 1
    if (bad) failures.push(`case ${i} (seed ${seed}, ${c.note}, argv ${JSON.stringify(c.argv)}): ${bad}`)
  }
  t.comment(`${how}: ${count} cases from seed ${seed}: ${JSON.stringify(tally)}; ${failures.length} breaches`)
  t.same(failures.slice(0, 20), [], `${how}: ${count} fuzzed runs kept the contract`)
}

const SEED = Number(process.env.NPH_FUZZ_SEED ?? 20261126)
t.test('fuzzed input, in-process', async t => fuzz(t, 'in-process', CASES, SEED))
t.test('fuzzed input, through the executable', async t => fuzz(t, 'executable', EXEC_CASES, SEED + 1))
