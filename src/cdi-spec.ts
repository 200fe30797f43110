import { isMap, isSeq, parseDocument, type Document, type ToStringOptions } from 'yaml'
import { HookError } from './errors'
import { insertionIndex, isOurHook, ourCdiHook } from './registration'

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

/** A spec's text, parsed so that it can be edited and written back in its own format. */
export interface SpecDoc {
  /** Inserts our entry where a list needs it; returns how many lists changed. */
  patch(entry: CdiEntry): number
  /** Removes every entry of ours; returns how many it removed. */
  revert(): number
  toString(): string
}

/** How one format edits its lists in place and writes itself back. */
interface Editor {
  insert(list: HookList, at: number, entry: CdiEntry): void
  remove(list: HookList, at: number): void
  render(): string
}

type CdiEntry = ReturnType<typeof ourCdiHook>

const specDoc = (lists: HookList[], editor: Editor): SpecDoc => ({
  patch: entry => {
    let n = 0
    for (const list of lists) {
      const at = insertionIndex(list.items, isCreateContainer)
      if (at === undefined) continue
      editor.insert(list, at, entry)
      n++
    }
    return n
  },
  revert: () => {
    let n = 0
    for (const list of lists) {
      // From the end, so the indices of the plain items stay those of the edited list.
      for (let i = list.items.length - 1; i >= 0; i--) {
        if (isOurHook(list.items[i])) {
          editor.remove(list, i)
          n++
        }
      }
    }
    return n
  },
  toString: () => editor.render(),
})

const jsonDoc = (spec: unknown, text: string, file: string): SpecDoc => {
  // Write back as it came: indented with the same unit, or compact.
  const indent = /^[{[][ \t]*\r?\n([ \t]+)/.exec(text)?.[1]
  const newline = text.endsWith('\n') ? '\n' : ''
  // The lists are the parsed arrays themselves.
  return specDoc(hookLists(spec, file), {
    insert: ({ items }, at, entry) => items.splice(at, 0, entry),
    remove: ({ items }, at) => items.splice(at, 1),
    render: () => JSON.stringify(spec, null, indent) + newline,
  })
}

/**
 * Rendering options under which the untouched document reproduces its
 * source, so that a patch changes only the lines it adds. lineWidth 0:
 * never fold. Where no candidate reproduces it exactly, the closest wins.
 */
const renderOptions = (doc: Document, text: string): ToStringOptions => {
  const source = new Set(text.split('\n'))
  let best: { opts: ToStringOptions; misses: number } | undefined
  for (const indentSeq of [false, true]) {
    for (const flowCollectionPadding of [false, true]) {
      const opts: ToStringOptions = { indentSeq, flowCollectionPadding, lineWidth: 0 }
      const out = doc.toString(opts)
      if (out === text) return opts
      const misses = out.split('\n').filter(l => !source.has(l)).length
      if (!best || misses < best.misses) best = { opts, misses }
    }
  }
  return (best as { opts: ToStringOptions }).opts
}

const yamlDoc = (doc: Document, text: string, file: string): SpecDoc => {
  const seqAt = (path: Path) => {
    const node = doc.getIn(path, true)
    // An alias (*anchor) would edit every list that shares it; refuse.
    if (!isSeq(node)) throw new HookError(`${file}: ${fieldName(path)} is not a plain YAML list (an alias?); patch it by hand`)
    return node
  }
  return specDoc(hookLists(doc.toJS(), file), {
    insert: ({ path }, at, entry) => {
      const seq = seqAt(path)
      // Look like the neighbour: a flow map `{...}` or a block map.
      const neighbour = seq.items[at]
      seq.items.splice(at, 0, doc.createNode(entry, { flow: isMap(neighbour) && neighbour.flow === true }))
    },
    remove: ({ path }, at) => seqAt(path).items.splice(at, 1),
    // Options are found on an untouched copy, and only when there is something to write.
    render: () => doc.toString(renderOptions(parseDocument(text), text)),
  })
}

/**
 * Parses a spec by its content: JSON stays JSON, anything else is read as
 * YAML with comments and order kept. The file name only labels errors.
 */
export const parseSpec = (text: string, file: string): SpecDoc => {
  let spec: unknown
  try {
    spec = JSON.parse(text)
  } catch (er) {
    const doc = parseDocument(text)
    const first = doc.errors[0]
    if (first) {
      const why = file.endsWith('.json') ? `not valid JSON (${(er as Error).message})` : `not valid YAML (${first.message.replace(/:?\n[^]*$/, '')})`
      throw new HookError(`${file}: ${why}`)
    }
    return yamlDoc(doc, text, file)
  }
  return jsonDoc(spec, text, file)
}
