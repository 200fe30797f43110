// Seeded generators of hostile hook input: OCI state, bundle config.json and
// argv, built by mutating valid ones. Same seed, same cases.

/** mulberry32: tiny, seedable, good enough to pick mutations. */
export const rng = (seed: number) => {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let x = a
    x = Math.imul(x ^ (x >>> 15), x | 1)
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61)
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296
  }
  const int = (n: number) => Math.floor(next() * n)
  const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)] as T
  return { next, int, pick, chance: (p: number) => next() < p }
}
export type Rng = ReturnType<typeof rng>

/** Sub-commands that write outside a scratch dir (cdi patch, install): the fuzzer never names them. */
export const NEVER_WORDS = new Set(['cdi', 'install', 'unmount', 'doctor', 'precreate', 'uninstall'])

const deep = (depth: number, leaf: unknown, asArray: boolean): unknown => {
  let v = leaf
  for (let i = 0; i < depth; i++) v = asArray ? [v] : { a: v }
  return v
}

/** Values of every JSON type, and strings that are hostile as paths or text. */
export const oddValue = (r: Rng, ctx: { paths: string[] }): unknown =>
  r.pick([
    () => null,
    () => true,
    () => 0,
    () => -1,
    () => 1.5,
    () => 2 ** 53 + 2,
    () => -(2 ** 31),
    () => 1e308,
    () => '',
    () => ' ',
    () => 'relative/path',
    () => '/',
    () => '\0',
    () => `${r.pick(ctx.paths)}\0x`,
    () => `${r.pick(ctx.paths)}\n/evil`,
    () => r.pick(ctx.paths),
    () => `${r.pick(ctx.paths)}/.`,
    () => '/nonexistent-nph/' + 'a'.repeat(r.int(300)),
    () => 'x'.repeat(r.pick([255, 256, 4097, 70_000])),
    () => '\u202e\ud800',
    () => [],
    () => [r.pick(ctx.paths)],
    () => ({}),
    () => ({ path: r.pick(ctx.paths) }),
    () => deep(1 + r.int(2000), 'x', r.chance(0.5)),
  ])()

/** One mutation of a JSON object, in place: drop, retype, add unknown, nest. */
const mutateObject = (r: Rng, obj: Record<string, unknown>, keys: string[], ctx: { paths: string[] }) => {
  const key = r.chance(0.85) ? r.pick(keys) : r.pick(['__proto__', 'constructor', 'unknownField', 'ROOT', 'Bundle', ''])
  r.pick([
    () => delete obj[key],
    () => (obj[key] = oddValue(r, ctx)),
    () => (obj[`x-${r.int(1000)}`] = oddValue(r, ctx)),
    () => (obj[key] = deep(r.int(50), obj[key], r.chance(0.5))),
  ])()
}

/** Text-level damage: truncation, byte flips, NULs, BOMs, junk, duplicates. */
const mutateText = (r: Rng, text: string): Buffer => {
  const b = Buffer.from(text)
  return r.pick([
    () => b.subarray(0, r.int(b.length)),
    () => {
      const c = Buffer.from(b)
      if (c.length) c[r.int(c.length)] = r.int(256)
      return c
    },
    () => Buffer.concat([b.subarray(0, r.int(b.length + 1)), Buffer.from([0]), b]),
    () => Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), b]),
    () => Buffer.concat([b, Buffer.from(r.pick(['\n{}', ' garbage', '\0', ']', '}'.repeat(10)]))]),
    () => Buffer.from([0xff, 0xfe, ...b]),
    () => Buffer.from(text.replace(/\{/, '{"id":"dup",')),
    () => Buffer.from(r.pick(['', ' ', '\n', 'null', '[]', '""', '0', 'true', '{', '[{}]', '{"a":'])),
    () => Buffer.from('['.repeat(100_000 + r.int(100_000))),
  ])()
}

export interface Case {
  argv: string[]
  stdin: Buffer
  config: Buffer | undefined
  note: string
}

export interface Scratch {
  bundle: string
  rootfs: string
  stateFile: string
  logFile: string
  /** A directory with a file in it, outside the rootfs. */
  bait: string
}

const STAGES = ['prestart', 'createRuntime', 'createContainer']

/** A case: a valid run with one to three things broken in argv, state or config.json. */
export const makeCase = (r: Rng, s: Scratch): Case => {
  // Only the rootfs, files, or missing paths: a fuzzed rootfs must never be a
  // real directory outside the scratch rootfs (the hook would rightly act there).
  const paths = [s.rootfs, `${s.bait}/file`, '/nonexistent-nph', s.stateFile, `${s.bundle}/config.json`]
  const ctx = { paths }
  const state: Record<string, unknown> = {
    ociVersion: '1.0.2',
    id: 'fuzz',
    status: r.pick(['creating', 'created', 'running', 'stopped']),
    pid: r.pick([-1, 0, 1, undefined]),
    bundle: s.bundle,
    annotations: { a: 'b' },
  }
  if (r.chance(0.2)) state.root = r.pick(['rootfs', s.rootfs])
  const config: Record<string, unknown> = { ociVersion: '1.0.2', root: { path: 'rootfs' }, process: { args: ['sh'] } }
  const notes: string[] = []
  let stdinText: Buffer | undefined
  let configText: Buffer | undefined
  for (let n = 1 + r.int(3); n > 0; n--) {
    const what = r.pick(['state', 'state', 'state-text', 'config', 'config-root', 'config-text', 'argv'])
    notes.push(what)
    if (what === 'state') mutateObject(r, state, Object.keys(state), ctx)
    else if (what === 'state-text') stdinText = mutateText(r, JSON.stringify(state))
    else if (what === 'config') mutateObject(r, config, ['root', 'ociVersion', 'process'], ctx)
    else if (what === 'config-root' && typeof config.root === 'object' && config.root !== null) {
      mutateObject(r, config.root as Record<string, unknown>, ['path', 'readonly'], ctx)
    } else if (what === 'config-text') configText = mutateText(r, JSON.stringify(config))
  }
  const argv: string[] = r.chance(0.5) ? [] : ['hook']
  // Most cases plan rather than mount: the same parsing and walk, without three util-linux runs.
  if (r.chance(0.7)) argv.push('--dry-run')
  if (r.chance(0.7)) argv.push('--stage', r.pick([...STAGES, 'createContainer', 'poststop', '', 'CREATECONTAINER']))
  if (notes.includes('argv')) {
    for (let k = 1 + r.int(4); k > 0; k--) {
      argv.push(
        ...r.pick<string[]>([
          ['--state', s.stateFile],
          ['--state', r.pick(paths)],
          ['--bundle', r.pick([s.bundle, ...paths])],
          ['--rootfs', r.pick(paths)],
          ['--source', r.pick(['/proc/driver/nvidia', '/nonexistent-nph', s.bait, `${s.bait}/file`, 'relative'])],
          ['--log-file', r.pick([s.logFile, 'relative.log', s.bait])],
          ['--dry-run'],
          ['--help'],
          ['-h'],
          ['--'],
          ['-'],
          ['--stage='],
          ['--stage'],
          ['--unknown-flag'],
          ['-x'],
          ['--state'],
          [r.pick(['bogus', 'HOOK', 'hook', ' ', '', '\0', '--version', 'help'])],
          [String.fromCharCode(33 + r.int(90)).repeat(1 + r.int(5))],
        ]),
      )
    }
  }
  // A word that happens to name a sub-command that writes outside the scratch dir is replaced.
  const safeArgv = argv.map(a => (NEVER_WORDS.has(a) ? 'bogus' : a))
  const stdin = stdinText ?? Buffer.from(JSON.stringify(state) ?? '')
  return { argv: safeArgv, stdin, config: configText ?? Buffer.from(JSON.stringify(config)), note: notes.join('+') }
}
