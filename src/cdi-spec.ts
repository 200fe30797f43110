import { isSeq, parseDocument, stringify, type Document, type Node, type YAMLMap } from 'yaml'
import { HookError } from './errors'
import { jsonListEdits, memberOf, parseJsonText, type JsonNode } from './json-text'
import { describeOps, isOurHook, ourCdiHook, planHooksList, type ListOp } from './registration'
import { applyEdits, insertInList, removeFromList, type Span, type TextEdit } from './text-edit'

type Path = (string | number)[]

/** One `hooks` list of a spec: where it is, and its items as plain values. */
interface HookList {
  path: Path
  items: unknown[]
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

const fieldName = (path: Path) => path.map(p => (typeof p === 'number' ? `[${p}]` : `.${p}`)).join('').slice(1)

const isCreateContainer = (hook: unknown) => isObject(hook) && hook.hookName === 'createContainer'

/**
 * The `containerEdits.hooks` lists of a CDI spec (SPEC.md): the spec's own
 * and each device's. Checks only the fields on the way to them.
 */
const hookLists = (spec: unknown, file: string): HookList[] => {
  const fail = (path: Path, what: string): never => {
    throw new HookError(`${file}: ${fieldName(path)} must be ${what}`)
  }
  if (!isObject(spec)) throw new HookError(`${file}: not a CDI spec (expected a mapping at the top)`)
  const lists: HookList[] = []
  const edits = (value: unknown, path: Path) => {
    if (value === undefined || value === null) return
    if (!isObject(value)) return fail(path, 'a mapping')
    const hooks = value.hooks
    if (hooks === undefined || hooks === null) return
    if (!Array.isArray(hooks)) return fail([...path, 'hooks'], 'a list')
    for (const [i, h] of hooks.entries()) if (!isObject(h)) fail([...path, 'hooks', i], 'a mapping')
    lists.push({ path: [...path, 'hooks'], items: hooks })
  }
  edits(spec.containerEdits, ['containerEdits'])
  const devices = spec.devices
  if (devices !== undefined && devices !== null) {
    if (!Array.isArray(devices)) return fail(['devices'], 'a list')
    for (const [i, d] of devices.entries()) {
      if (!isObject(d)) return fail(['devices', i], 'a mapping')
      edits(d.containerEdits, ['devices', i, 'containerEdits'])
    }
  }
  return lists
}

/** A spec's text, parsed so that our entry can be put in, replaced or taken out with no other byte changed. */
export interface SpecDoc {
  /**
   * Carries out what each hooks list needs (registration.ts planHooksList):
   * our entry where disable-device-node-modification stands, unsafe
   * entries of ours replaced, ours removed where nothing needs it, written
   * with `entry`'s binary and log file. Returns each changed list with its
   * changes, none when the spec is done.
   */
  patch(entry: EntryOptions): ListChange[]
  /** Removes every entry of ours; returns how many it removed. */
  revert(): number
  toString(): string
}

type EntryOptions = Parameters<typeof ourCdiHook>[0] & object

/** One hooks list that a patch changed: where it is (`devices[0].containerEdits.hooks`) and what it needed. */
export interface ListChange {
  list: string
  ops: ListOp[]
  /** The list's hooks before the change, as plain values. */
  hooks: unknown[]
}

/** `containerEdits.hooks: no nvidia-procfs-hook before NVIDIA's hooks`, one per list. */
export const describeChanges = (changes: readonly ListChange[]) => changes.map(c => `${c.list}: ${describeOps(c.ops)}`).join('; ')

/** How one format turns a list's changes into text edits. */
type ListEditor = (list: HookList, ops: readonly ListOp[], entry: EntryOptions) => TextEdit[]

const specDoc = (text: string, lists: HookList[], edit: ListEditor): SpecDoc => {
  let current = text
  const run = (plan: (list: HookList) => ListOp[], entry: EntryOptions) => {
    const edits: TextEdit[] = []
    const changed: ListChange[] = []
    let count = 0
    for (const list of lists) {
      const ops = plan(list)
      if (!ops.length) continue
      edits.push(...edit(list, ops, entry))
      changed.push({ list: fieldName(list.path), ops, hooks: list.items })
      count += ops.length
    }
    current = applyEdits(text, edits)
    return { changed, count }
  }
  const ours = (list: HookList) => [...list.items.entries()].filter(([, h]) => isOurHook(h)).map(([at]): ListOp => ({ op: 'remove', at }))
  return {
    patch: entry => run(list => planHooksList(list.items, { isCreateContainer, removeUnneeded: true }), entry).changed,
    revert: () => run(ours, {}).count,
    toString: () => current,
  }
}

const jsonDoc = (text: string, file: string): SpecDoc => {
  const root = parseJsonText(text)
  return specDoc(text, hookLists(JSON.parse(text), file), ({ path }, ops, entry) => {
    // The same list JSON.parse found: both take the last of duplicate keys.
    let node: JsonNode | undefined = root
    for (const key of path) node = typeof key === 'number' ? (node as Extract<JsonNode, { kind: 'array' }>).items[key] : memberOf(node, key)
    return jsonListEdits(text, node as Extract<JsonNode, { kind: 'array' }>, ops, ourCdiHook, entry)
  })
}

/** Offsets of the line that holds `pos`: its start, and its end after the line break (or the text's end). */
const lineStart = (text: string, pos: number) => text.lastIndexOf('\n', pos - 1) + 1
const lineEnd = (text: string, pos: number) => {
  const nl = text.indexOf('\n', pos)
  return nl < 0 ? text.length : nl + 1
}

/** A YAML scalar as ours is written: plain where YAML reads it back as the same string, else double-quoted. */
const yamlScalar = (v: string) => {
  const plain = stringify(v).trimEnd()
  return plain === v ? v : JSON.stringify(v)
}

/** Our entry as one YAML flow mapping: `{hookName: createContainer, path: ..., args: [...], env: [...]}`. */
const yamlFlow = (entry: object) =>
  `{${Object.entries(entry)
    .map(([k, v]) => `${k}: ${Array.isArray(v) ? `[${v.map(x => yamlScalar(String(x))).join(', ')}]` : yamlScalar(String(v))}`)
    .join(', ')}}`

/**
 * Our entry as block YAML lines written like `like`, the block sequence
 * item it goes before: the same dash and key columns, its lists in flow
 * style or as block sequences at the column its own use.
 */
const yamlBlockItem = (text: string, like: Node, entry: object, nl: string): string => {
  const [start] = like.range as [number, number, number]
  const first = lineStart(text, start)
  // The neighbour's own `  - ` (or `-   `): our first line starts the same way.
  const lead = text.slice(first, start)
  if ((like as YAMLMap).flow) return `${lead}${yamlFlow(entry)}${nl}`
  const keys = ' '.repeat(start - first)
  // hookLists checked that every item is a mapping; a block sequence has items.
  const seqDash = (key: string) => {
    const v = (like as YAMLMap).get(key, true)
    if (!isSeq(v) || v.flow) return 'flow'
    const [dashAt] = (v.items[0] as Node).range as [number, number, number]
    return text.slice(lineStart(text, dashAt), dashAt).replace(/-\s*$/, '')
  }
  const lines = Object.entries(entry).map(([k, v]) => {
    if (!Array.isArray(v)) return `${k}: ${yamlScalar(String(v))}`
    const at = seqDash(k)
    if (at === 'flow') return `${k}: [${v.map(x => yamlScalar(String(x))).join(', ')}]`
    return [`${k}:`, ...v.map(x => `${at.slice(keys.length)}- ${yamlScalar(String(x))}`)].join(nl + keys)
  })
  return `${lead}${lines.join(nl + keys)}${nl}`
}

const yamlDoc = (doc: Document, text: string, file: string): SpecDoc => {
  const nl = text.includes('\r\n') ? '\r\n' : '\n'
  return specDoc(text, hookLists(doc.toJS(), file), ({ path }, ops, entry) => {
    const seq = doc.getIn(path, true)
    // An alias (*anchor) would edit every list that shares it; refuse.
    if (!isSeq(seq)) throw new HookError(`${file}: ${fieldName(path)} is not a plain YAML list (an alias?); patch it by hand`)
    const items = seq.items as Node[]
    const spans = items.map(i => ({ start: (i.range as number[])[0] as number, end: (i.range as number[])[1] as number }))
    return ops.map((o): TextEdit => {
      const item = items[o.at] as Node
      const span = spans[o.at] as Span
      const opts = o.op === 'replace' ? o.options : entry
      if (seq.flow) {
        if (o.op === 'insert') return insertInList(text, (seq.range as number[])[0] as number, spans, o.at, yamlFlow(ourCdiHook(opts)))
        if (o.op === 'remove') return removeFromList(spans, o.at)
        return { ...span, text: yamlFlow(ourCdiHook(opts)) }
      }
      // Block items own whole lines: from the dash's line to the end of the item's last line.
      const whole = { start: lineStart(text, span.start), end: lineEnd(text, Math.max(span.start, span.end - 1)) }
      if (o.op === 'insert') return { start: whole.start, end: whole.start, text: yamlBlockItem(text, item, ourCdiHook(opts), nl) }
      // The file's last line, without a line break: take the break before it instead.
      const last = !text.slice(whole.start, whole.end).endsWith('\n')
      if (o.op === 'remove') return { start: last ? whole.start - nl.length : whole.start, end: whole.end, text: '' }
      const block = yamlBlockItem(text, item, ourCdiHook(opts), nl)
      return { ...whole, text: last ? block.slice(0, -nl.length) : block }
    })
  })
}

/**
 * Parses a spec by its content: JSON (the device plugin's, compact or
 * indented) or YAML (nvidia-ctk's, hand-written ones). The file name only
 * labels errors. Edits splice the text at the positions the parser gives,
 * so comments, layout, quoting, number text and line endings stay.
 */
export const parseSpec = (text: string, file: string): SpecDoc => {
  try {
    JSON.parse(text)
  } catch (er) {
    const doc = parseDocument(text)
    const first = doc.errors[0]
    if (first) {
      const why = file.endsWith('.json') ? `not valid JSON (${(er as Error).message})` : `not valid YAML (${first.message.replace(/:?\n[^]*$/, '')})`
      throw new HookError(`${file}: ${why}`)
    }
    return yamlDoc(doc, text, file)
  }
  return jsonDoc(text, file)
}
