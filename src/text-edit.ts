/** A replacement of text[start, end) by `text`; offsets into the original. */
export interface TextEdit {
  start: number
  end: number
  text: string
}

/** Where a value sits in its text; `end` exclusive. */
export interface Span {
  start: number
  end: number
}

/** Applies non-overlapping edits to `text`, from the last so that earlier offsets hold. */
export const applyEdits = (text: string, edits: readonly TextEdit[]): string =>
  [...edits].sort((a, b) => b.start - a.start).reduce((out, e) => out.slice(0, e.start) + e.text + out.slice(e.end), text)

/**
 * The separator between two items of a bracketed list (`[a, b]`, JSON or
 * YAML flow): what the text already has between neighbours around `at`.
 * With one item: a comma and the line break after the opening bracket, or
 * on one line, the spacing the item uses after its own commas.
 */
const separator = (text: string, open: number, items: readonly Span[], at: number): string => {
  const next = items[at + 1]
  const prev = items[at - 1]
  const here = items[at] as Span
  if (next) return text.slice(here.end, next.start)
  if (prev) return text.slice(prev.end, here.start)
  const afterBracket = text.slice(open + 1, here.start)
  if (afterBracket.includes('\n')) return `,${afterBracket}`
  return `,${/,([ \t]*)/.exec(text.slice(here.start, here.end))?.[1] ?? ''}`
}

/**
 * Inserts `rendered` as a new item before item `at` of a bracketed list
 * whose `[` is at `open`: the item, then the list's own separator, so that
 * removeFromList of the new item gives back the text byte for byte.
 */
export const insertInList = (text: string, open: number, items: readonly Span[], at: number, rendered: string): TextEdit => {
  const start = (items[at] as Span).start
  return { start, end: start, text: rendered + separator(text, open, items, at) }
}

/** Removes item `at` with the separator after it (before it, for the last item). */
export const removeFromList = (items: readonly Span[], at: number): TextEdit => {
  const here = items[at] as Span
  const next = items[at + 1]
  const prev = items[at - 1]
  if (next) return { start: here.start, end: next.start, text: '' }
  if (prev) return { start: prev.end, end: here.end, text: '' }
  return { start: here.start, end: here.end, text: '' }
}
