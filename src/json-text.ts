import type { EntryOptions, ListOp } from './registration'
import { insertInList, removeFromList, type TextEdit } from './text-edit'

/**
 * JSON text with the positions of its values, so that an edit can splice
 * the text and leave every other byte as it was: numbers beyond 2^53
 * (podman's and runc's rlimits at 2^64-1), escapes, spacing and key order
 * survive untouched, which JSON.parse then JSON.stringify cannot promise.
 * Positions are UTF-16 offsets into the string; `end` is exclusive.
 */
export type JsonNode =
  | { kind: 'object'; start: number; end: number; members: JsonMember[] }
  | { kind: 'array'; start: number; end: number; items: JsonNode[] }
  | { kind: 'value'; start: number; end: number }

export interface JsonMember {
  key: string
  /** Where the key's string starts and ends (quotes included). */
  keyStart: number
  keyEnd: number
  value: JsonNode
}

const WS = /[ \t\n\r]*/y
const STRING = /"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*"/y
const LITERAL = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y

/**
 * Parses `text`, which JSON.parse has already accepted (so errors here are
 * not expected; JSON.parse's own message is the one users see). Throws
 * SyntaxError naming the offset otherwise.
 */
export const parseJsonText = (text: string): JsonNode => {
  let pos = 0
  const skip = () => {
    WS.lastIndex = pos
    WS.exec(text)
    pos = WS.lastIndex
  }
  const fail = (): never => {
    throw new SyntaxError(`unexpected input at offset ${pos}`)
  }
  const match = (re: RegExp) => {
    re.lastIndex = pos
    const m = re.exec(text)
    if (!m) fail()
    pos = re.lastIndex
    return (m as RegExpExecArray)[0]
  }
  const expect = (c: string) => {
    skip()
    if (text[pos] !== c) fail()
    pos++
  }
  const value = (): JsonNode => {
    skip()
    const start = pos
    const c = text[pos]
    if (c === '{') {
      pos++
      const members: JsonMember[] = []
      skip()
      if (text[pos] === '}') pos++
      else {
        for (;;) {
          skip()
          const keyStart = pos
          const key = JSON.parse(match(STRING)) as string
          const keyEnd = pos
          expect(':')
          members.push({ key, keyStart, keyEnd, value: value() })
          skip()
          if (text[pos] === '}') {
            pos++
            break
          }
          expect(',')
        }
      }
      return { kind: 'object', start, end: pos, members }
    }
    if (c === '[') {
      pos++
      const items: JsonNode[] = []
      skip()
      if (text[pos] === ']') pos++
      else {
        for (;;) {
          items.push(value())
          skip()
          if (text[pos] === ']') {
            pos++
            break
          }
          expect(',')
        }
      }
      return { kind: 'array', start, end: pos, items }
    }
    match(c === '"' ? STRING : LITERAL)
    return { kind: 'value', start, end: pos }
  }
  const root = value()
  skip()
  if (pos !== text.length) fail()
  return root
}

/** A member's value by key; the last of duplicates, as JSON.parse (and Go's decoder) take it. */
export const memberOf = (node: JsonNode | undefined, key: string): JsonNode | undefined => {
  if (node?.kind !== 'object') return undefined
  let found: JsonNode | undefined
  for (const m of node.members) if (m.key === key) found = m.value
  return found
}

/** The whitespace and punctuation a collection is written with, copied from the text. */
interface Gaps {
  /** After `{` or `[`, up to the first item. */
  open: string
  /** Between two items, comma included. */
  comma: string
  /** After the last item, up to `}` or `]`. */
  close: string
  /** Between a key and its value, colon included. */
  colon: string
}

const gapsOf = (text: string, node: Exclude<JsonNode, { kind: 'value' }>, outer: Gaps): Gaps => {
  const spans = node.kind === 'object' ? node.members.map(m => ({ start: m.keyStart, end: m.value.end })) : node.items
  const first = spans[0]
  const last = spans.at(-1)
  if (!first || !last) return outer
  const open = text.slice(node.start + 1, first.start)
  const second = spans[1]
  return {
    open,
    comma: second ? text.slice(first.end, second.start) : open.includes('\n') ? `,${open}` : outer.comma,
    close: text.slice(last.end, node.end - 1),
    colon: node.kind === 'object' && node.members[0] ? text.slice(node.members[0].keyEnd, node.members[0].value.start) : outer.colon,
  }
}

/** Gaps one level further in than `g`, for a level the neighbour lacks: its indentation step again. */
const deeper = (g: Gaps): Gaps => {
  if (!g.open.includes('\n')) return g
  const indent = (gap: string) => gap.slice(gap.lastIndexOf('\n') + 1)
  const step = indent(g.open).slice(indent(g.close).length)
  return { open: g.open + step, comma: `,${g.open}${step}`, close: g.open, colon: g.colon }
}

/**
 * Renders `value` (objects, arrays and strings: a hook entry) as `like`, a
 * sibling in the same text, is written: its spacing and line breaks at
 * each level, copied, so an inserted entry looks like its neighbours
 * (compact, one line with spaces, or indented with spaces or tabs).
 */
export const renderLike = (text: string, like: JsonNode | undefined, value: unknown, outer: Gaps = { open: '', comma: ',', close: '', colon: ':' }): string => {
  if (typeof value === 'string') return JSON.stringify(value)
  const g = like && like.kind !== 'value' ? gapsOf(text, like, outer) : deeper(outer)
  if (Array.isArray(value)) {
    if (!value.length) return '[]'
    const items = like?.kind === 'array' ? like.items : []
    return `[${g.open}${value.map((v, i) => renderLike(text, items[i] ?? items[0], v, g)).join(g.comma)}${g.close}]`
  }
  const entries = Object.entries(value as Record<string, unknown>)
  if (!entries.length) return '{}'
  const members = like?.kind === 'object' ? like.members : []
  const render = ([k, v]: [string, unknown]) => `${JSON.stringify(k)}${g.colon}${renderLike(text, members.find(m => m.key === k)?.value, v, g)}`
  return `{${g.open}${entries.map(render).join(g.comma)}${g.close}}`
}

/**
 * The text edits that carry out `ops` (registration.ts planHooksList) on the
 * JSON array `list`, with `entry` rendering our hook for given options;
 * each new entry is written like the item it goes before.
 */
export const jsonListEdits = (text: string, list: Extract<JsonNode, { kind: 'array' }>, ops: readonly ListOp[], entry: (opts: Omit<EntryOptions, 'stage'>) => object, opts: Omit<EntryOptions, 'stage'> = {}): TextEdit[] =>
  ops.map(o => {
    const item = list.items[o.at] as JsonNode
    if (o.op === 'insert') return insertInList(text, list.start, list.items, o.at, renderLike(text, item, entry(opts)))
    if (o.op === 'remove') return removeFromList(list.items, o.at)
    return { start: item.start, end: item.end, text: renderLike(text, item, entry(o.options)) }
  })
