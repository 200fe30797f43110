/**
 * Property tests of `cdi patch` / `cdi revert` over specs as real producers
 * lay them out (test/fixtures/cdi-corpus) and over generated layouts
 * (test/harness/spec-layouts.ts). The expectations come from a model written
 * here from the rules, not from src: our entry goes only into hook lists that
 * hold disable-device-node-modification, right before their first NVIDIA
 * hook, and nothing else in the file changes, byte for byte.
 */
import t, { type Test } from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parse } from 'yaml'
import { parseSpec } from '../../src/cdi-spec'
import { ourCdiHook } from '../../src/registration'
import { BASE_SPECS, LAYOUTS, layoutName, render } from '../harness/spec-layouts'

const CORPUS = join(__dirname, '../fixtures/cdi-corpus')
const entry = ourCdiHook()

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const args = (h: unknown): unknown[] => (isObj(h) && Array.isArray(h.args) ? h.args : [])
const baseName = (h: unknown) => (isObj(h) && typeof h.path === 'string' ? h.path.slice(h.path.lastIndexOf('/') + 1) : undefined)

/** NVIDIA's hooks in both forms, and the name of the hook each runs. */
const nvidiaHookName = (h: unknown): unknown => {
  const name = baseName(h)
  if (name === 'nvidia-cdi-hook') return args(h)[1] ?? null
  if (name === 'nvidia-ctk' && args(h)[1] === 'hook') return args(h)[2] ?? null
  return undefined
}
const isNvidia = (h: unknown) => nvidiaHookName(h) !== undefined
const isDdnm = (h: unknown) => nvidiaHookName(h) === 'disable-device-node-modification'
const isOurs = (h: unknown) => baseName(h) === 'nvidia-procfs-hook' || args(h)[0] === 'nvidia-procfs-hook'

/** Parsed as parseSpec decides: JSON when it parses as JSON, else YAML. */
const parsed = (text: string): unknown => {
  try {
    return JSON.parse(text)
  } catch {
    return parse(text)
  }
}

/** The `containerEdits` maps that may hold a hooks list: the spec's, then each device's. */
const editsOf = (spec: unknown): Obj[] => {
  if (!isObj(spec)) return []
  const devices = Array.isArray(spec.devices) ? spec.devices : []
  return [spec.containerEdits, ...devices.map(d => (isObj(d) ? d.containerEdits : undefined))].filter(isObj)
}

interface Model {
  /** The spec as the new patch must leave it (empty hooks lists dropped, see `normalized`). */
  expected: unknown
  /** Lists that get our entry, and entries of ours that patch removes. */
  inserted: number
  removed: number
  /** Entries of ours anywhere in the original (what revert removes). */
  ours: number
}

/**
 * A list that loses its only entry may be left `[]`, `null` or without the
 * key; CDI reads all three alike, so compare without empty lists.
 */
const normalized = (spec: unknown): unknown => {
  const copy = structuredClone(spec)
  for (const edits of editsOf(copy)) if (edits.hooks === null || (Array.isArray(edits.hooks) && edits.hooks.length === 0)) delete edits.hooks
  return copy
}

const model = (text: string): Model => {
  const expected = structuredClone(parsed(text))
  let inserted = 0
  let removed = 0
  let ours = 0
  for (const edits of editsOf(expected)) {
    if (!Array.isArray(edits.hooks)) continue
    const before: unknown[] = edits.hooks
    const rest = before.filter(h => !isOurs(h))
    ours += before.length - rest.length
    if (rest.some(isDdnm)) {
      rest.splice(rest.findIndex(isNvidia), 0, structuredClone(entry))
      if (JSON.stringify(rest) !== JSON.stringify(before)) inserted++
    } else removed += before.length - rest.length
    edits.hooks = rest
  }
  return { expected: normalized(expected), inserted, removed, ours }
}

/**
 * The fewest runs of `longer` to delete so that `shorter` is left, or
 * undefined when `shorter` is not a subsequence of it. Exact, not greedy: a
 * DP over every insertion-only alignment, state (i = chars of `shorter`
 * matched, o = chars of `longer` skipped), split by whether the last char of
 * `longer` was skipped (a run goes on) or matched (the next skip opens one).
 * O(|shorter| × (|longer| - |shorter|)).
 */
const deletedRuns = (longer: string, shorter: string): number | undefined => {
  const gap = longer.length - shorter.length
  if (gap < 0) return undefined
  const INF = Number.MAX_SAFE_INTEGER
  let matched = new Array<number>(gap + 1).fill(INF)
  let skipped = new Array<number>(gap + 1).fill(INF)
  matched[0] = 0
  for (let i = 0; ; i++) {
    // Skips within row i: (i, o) -> (i, o + 1).
    for (let o = 0; o < gap; o++) {
      const m = matched[o] ?? INF
      const s = skipped[o] ?? INF
      skipped[o + 1] = Math.min(skipped[o + 1] ?? INF, s, m === INF ? INF : m + 1)
    }
    if (i === shorter.length) break
    // Matches: (i, o) -> (i + 1, o) where the chars agree.
    const next = new Array<number>(gap + 1).fill(INF)
    for (let o = 0; o <= gap; o++) if (shorter[i] === longer[i + o]) next[o] = Math.min(matched[o] ?? INF, skipped[o] ?? INF)
    matched = next
    skipped = new Array<number>(gap + 1).fill(INF)
  }
  const best = Math.min(matched[gap] ?? INF, skipped[gap] ?? INF)
  return best === INF ? undefined : best
}

const bareLf = /(^|[^\r])\n/

interface Outcome {
  /** revert(patch(text)) === revert(text), and patch only inserted or only deleted. */
  roundTrip: boolean
  patchOnlyOurs: boolean
}

/** Every property for one spec text; returns what the summary table counts. */
const checkSpec = (t: Test, text: string, file: string): Outcome => {
  const m = model(text)
  const doc = parseSpec(text, file)
  const n = doc.patch({}).length
  const patched = doc.toString()

  t.equal(n, m.inserted + m.removed, 'n: lists given the entry (holding disable-device-node-modification) + stale entries removed')
  t.same(normalized(parsed(patched)), m.expected, 'the entry sits right before the first NVIDIA hook of each list with disable-device-node-modification, nowhere else')

  // Only our entries change: the other bytes stay, in order, around n contiguous runs.
  let patchOnlyOurs = false
  if (m.removed === 0) {
    const runs = deletedRuns(patched, text)
    patchOnlyOurs = runs !== undefined && runs <= m.inserted && (runs > 0) === (m.inserted > 0)
    t.ok(patchOnlyOurs, 'patched = original + inserted runs only', { runs, inserted: m.inserted, lengths: [text.length, patched.length] })
  } else if (m.inserted === 0) {
    const runs = deletedRuns(text, patched)
    patchOnlyOurs = runs !== undefined && runs > 0 && runs <= m.removed
    t.ok(patchOnlyOurs, 'patched = original less the stale entries only', { runs, removed: m.removed })
  } else t.fail('corpus file both gains and loses entries: no byte check written for that')

  if (text.includes('\r\n')) t.notMatch(patched, bareLf, 'CRLF kept: no bare LF')
  t.equal(patched.endsWith('\n'), text.endsWith('\n'), 'final newline kept (or still absent)')

  const again = parseSpec(patched, file)
  t.same(again.patch({}), [], 'idempotent: a second patch does nothing')
  t.equal(again.toString(), patched, 'idempotent: text unchanged')

  // revert removes every entry of ours and nothing else.
  const bare = parseSpec(text, file)
  t.equal(bare.revert(), m.ours, 'revert of the original removes only the entries it had')
  const bareText = bare.toString()
  if (m.ours === 0) t.equal(bareText, text, 'revert of the original changes nothing')
  else {
    const runs = deletedRuns(text, bareText)
    t.ok(runs !== undefined && runs > 0 && runs <= m.ours, 'revert of the original deletes only our entries', { runs })
  }
  const reverted = parseSpec(patched, file)
  reverted.revert()
  const revertedText = reverted.toString()
  if (m.ours === 0) t.equal(revertedText, text, 'revert of patched gives the original bytes')
  else t.equal(revertedText, bareText, 'revert of patched = revert of the original')
  if (text.includes('\r\n')) t.notMatch(revertedText, bareLf, 'CRLF kept by revert')
  return { roundTrip: revertedText === (m.ours === 0 ? text : bareText), patchOnlyOurs }
}

/** Runs the checks, turning a throw into a failure so that the table still gets a row. */
const safely = (t: Test, text: string, file: string): Outcome => {
  try {
    return checkSpec(t, text, file)
  } catch (er) {
    t.error(er, 'patch/revert threw')
    return { roundTrip: false, patchOnlyOurs: false }
  }
}

const corpus = readdirSync(CORPUS)
  .filter(f => /\.(ya?ml|json)$/.test(f))
  .sort()
const generated = LAYOUTS.flatMap(layout =>
  BASE_SPECS.map(base => ({ layout: layoutName(layout), file: `${base.name}.${layout.format}`, text: render(base.spec, layout) })),
)
/** Corpus rows by producer family, to keep the table small. */
const producer = (file: string) => /^(nvidia-ctk-yamlv3|sigs-k8s-yaml|k8s-device-plugin|go-marshalindent|python-json-dumps|json|handwritten|stale-ours)/.exec(file)?.[1] ?? file
const table = new Map<string, { texts: number; roundTrip: number; onlyOurs: number }>()
const count = (row: string, o: Outcome) => {
  const r = table.get(row) ?? { texts: 0, roundTrip: 0, onlyOurs: 0 }
  table.set(row, { texts: r.texts + 1, roundTrip: r.roundTrip + (o.roundTrip ? 1 : 0), onlyOurs: r.onlyOurs + (o.patchOnlyOurs ? 1 : 0) })
}

t.test('deletedRuns agrees with brute force on short strings', async t => {
  // Every way to delete positions of `longer`; the fewest runs among those that leave `shorter`.
  const brute = (longer: string, shorter: string): number | undefined => {
    let best: number | undefined
    for (let mask = 0; mask < 1 << longer.length; mask++) {
      const kept = [...longer].filter((_, i) => !(mask & (1 << i))).join('')
      if (kept !== shorter) continue
      const runs = [...longer].filter((_, i) => mask & (1 << i) && !(i > 0 && mask & (1 << (i - 1)))).length
      if (best === undefined || runs < best) best = runs
    }
    return best
  }
  let seed = 7
  // MINSTD: deterministic, and its products stay exact in a double.
  const rand = (n: number) => (seed = (seed * 48271) % 2147483647) % n
  const word = (n: number) => Array.from({ length: n }, () => 'ab'[rand(2)]).join('')
  for (let k = 0; k < 400; k++) {
    const longer = word(1 + rand(9))
    const shorter = word(rand(longer.length + 1))
    t.equal(deletedRuns(longer, shorter), brute(longer, shorter), `${longer} / ${shorter}`)
  }
})

t.test('the corpus is what the brief asks for', async t => {
  t.ok(corpus.length >= 30, `${corpus.length} corpus files`)
  t.ok(generated.length >= 40, `${generated.length} generated texts`)
  // The generator must produce what it claims: valid specs, equal to their object.
  for (const g of generated) t.same(parsed(g.text), BASE_SPECS.find(b => g.file.startsWith(`${b.name}.`))?.spec, `${g.layout} ${g.file}: parses back`)
  // Each layout trait the brief names shows up at least once.
  const texts = corpus.map(f => readFileSync(join(CORPUS, f), 'utf8'))
  const some = (what: string, p: (s: string) => boolean) => t.ok(texts.some(p), `corpus has ${what}`)
  some('CRLF YAML', s => s.includes('\r\n') && !s.startsWith('{'))
  some('CRLF JSON', s => s.includes('\r\n') && s.startsWith('{'))
  some('a missing final newline', s => !s.endsWith('\n'))
  some('a document end marker', s => /\n\.\.\.\r?\n/.test(s))
  some('a big integer', s => s.includes('18446744073709551615'))
  some('JSON escapes', s => s.includes('\\u002f') && s.includes('\\/'))
  some('the GPU operator path', s => s.includes('/usr/local/nvidia/toolkit/nvidia-cdi-hook'))
})

t.test('corpus: patch adds only our entry where disable-device-node-modification is; revert restores the bytes', async t => {
  for (const file of corpus) {
    const text = readFileSync(join(CORPUS, file), 'utf8')
    t.test(file, async t => count(`corpus: ${producer(file)}`, safely(t, text, file)))
  }
})

t.test('generated layouts: the same properties', async t => {
  for (const g of generated) t.test(`${g.layout} ${g.file}`, async t => count(`generated: ${g.layout}`, safely(t, g.text, g.file)))
})

t.test('summary: byte-identical round-trips per layout', async t => {
  const rows = [...table.entries()]
  const total = rows.reduce((a, [, r]) => ({ texts: a.texts + r.texts, roundTrip: a.roundTrip + r.roundTrip, onlyOurs: a.onlyOurs + r.onlyOurs }), { texts: 0, roundTrip: 0, onlyOurs: 0 })
  const width = Math.max(...rows.map(([k]) => k.length), 10)
  const line = (k: string, texts: number | string, only: number | string, rt: number | string) =>
    `${k.padEnd(width)}  ${String(texts).padStart(5)}  ${String(only).padStart(10)}  ${String(rt).padStart(10)}`
  t.comment(line('layout', 'texts', 'only ours', 'round-trip'))
  for (const [k, r] of rows) t.comment(line(k, r.texts, r.onlyOurs, r.roundTrip))
  t.comment(line(`total (${rows.length} layouts)`, total.texts, total.onlyOurs, total.roundTrip))
  t.pass('table printed')
})
