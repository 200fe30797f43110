import t from 'tap'
import { applyEdits, insertInList, removeFromList, type Span } from '../../src/text-edit'

/** The spans of a list's one-letter items in `text`, whose `[` is the first. */
const spans = (text: string): Span[] => [...text.matchAll(/[a-z]/g)].map(m => ({ start: m.index ?? 0, end: (m.index ?? 0) + 1 }))

t.test('insert then remove is the identity, whatever the separator style', async t => {
  const cases = ['[a]', '[a,b]', '[a, b, c]', '[\n  a,\n  b\n]', '[\n\ta\n]', '[ a ]', '[a,\r\n b]']
  for (const text of cases) {
    const items = spans(text)
    for (let at = 0; at < items.length; at++) {
      const inserted = applyEdits(text, [insertInList(text, 0, items, at, 'Z')])
      const back = [...inserted.matchAll(/[a-zZ]/g)].map(m => ({ start: m.index ?? 0, end: (m.index ?? 0) + 1 }))
      t.equal(applyEdits(inserted, [removeFromList(back, at)]), text, `${JSON.stringify(text)} at ${at}: ${JSON.stringify(inserted)}`)
    }
  }
})

t.test('the separator copies the list: between neighbours, else after the bracket, else the item\'s own', async t => {
  const ins = (text: string, at = 0) => applyEdits(text, [insertInList(text, 0, spans(text), at, 'Z')])
  t.equal(ins('[a, b]', 1), '[a, Z, b]', 'before the last: the gap before it')
  t.equal(ins('[\n  a\n]'), '[\n  Z,\n  a\n]', 'one item on its own line')
  t.equal(ins('[a]'), '[Z,a]', 'one item, compact')
})

t.test('removing the last item takes the separator before it; the only one, just itself', async t => {
  const text = '[a, b]'
  t.equal(applyEdits(text, [removeFromList(spans(text), 1)]), '[a]')
  t.equal(applyEdits('[ a ]', [removeFromList(spans('[ a ]'), 0)]), '[  ]')
})

t.test('edits apply from the end, whatever their order', async t => {
  t.equal(applyEdits('abcdef', [{ start: 1, end: 2, text: 'X' }, { start: 4, end: 4, text: 'Y' }]), 'aXcdYef')
})
