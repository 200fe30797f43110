import t from 'tap'
import { jsonListEdits, memberOf, parseJsonText, renderLike, type JsonNode } from '../../src/json-text'
import { ourHook } from '../../src/registration'
import { applyEdits } from '../../src/text-edit'

const slice = (text: string, n: JsonNode | undefined) => (n ? text.slice(n.start, n.end) : undefined)

t.test('positions of every value; numbers and escapes are never decoded', async t => {
  const text = ' {"a": [1, 18446744073709551615, -0.0e+5], "b\\u0022": {"c": "x\\/y"}, "a": true} '
  const root = parseJsonText(text)
  t.equal(root.kind, 'object')
  t.equal(slice(text, memberOf(root, 'a')), 'true', 'the last of duplicate keys, as JSON.parse takes it')
  const first = root.kind === 'object' ? root.members[0]?.value : undefined
  t.same(first?.kind === 'array' ? first.items.map(i => slice(text, i)) : [], ['1', '18446744073709551615', '-0.0e+5'])
  t.equal(slice(text, memberOf(memberOf(root, 'b"'), 'c')), '"x\\/y"')
  t.equal(memberOf(first, 'x'), undefined, 'not an object')
  t.equal(memberOf(undefined, 'x'), undefined)
  t.same(parseJsonText('[]'), { kind: 'array', start: 0, end: 2, items: [] })
  t.same(parseJsonText('{}'), { kind: 'object', start: 0, end: 2, members: [] })
})

t.test('what JSON.parse would refuse throws SyntaxError with the offset', async t => {
  for (const [text, at] of [['{"a" 1}', 5], ['[1 2]', 3], ['[1,]', 3], ['{"a": 1} x', 9], ["{'a': 1}", 1], ['[01]', 2]] as const) {
    t.throws(() => parseJsonText(text), { name: 'SyntaxError', message: `unexpected input at offset ${at}` }, text)
  }
})

t.test('renderLike: written as the neighbour is, at each level', async t => {
  const entry = { a: 'x', l: ['p', 'q'] }
  const render = (text: string) => {
    const root = parseJsonText(text)
    return renderLike(text, root.kind === 'array' ? root.items[0] : undefined, entry)
  }
  t.equal(render('[{"a":"y","l":["r"]}]'), '{"a":"x","l":["p","q"]}', 'compact')
  t.equal(render('[{"a": "y", "l": ["r", "s"]}]'), '{"a": "x", "l": ["p", "q"]}', 'one line with spaces')
  t.equal(render('[\n  {\n    "a": "y",\n    "l": [\n      "r"\n    ]\n  }\n]'), '{\n    "a": "x",\n    "l": [\n      "p",\n      "q"\n    ]\n  }', 'indented: the same columns')
  t.equal(
    render('[\r\n\t{\r\n\t\t"a": "y"\r\n\t}\r\n]'),
    '{\r\n\t\t"a": "x",\r\n\t\t"l": [\r\n\t\t\t"p",\r\n\t\t\t"q"\r\n\t\t]\r\n\t}',
    'tabs and CRLF; a level the neighbour lacks one step further in',
  )
  t.equal(render('[\n{\n"a": "y"\n}\n]'), '{\n"a": "x",\n"l": [\n"p",\n"q"\n]\n}', 'a file that does not indent: neither do we')
  t.same(JSON.parse(render('[\n  {"a": "y"\n  }\n]')), entry, 'an odd layout: still the entry')
  t.equal(render('[{}]'), '{"a":"x","l":["p","q"]}', 'an empty neighbour: compact')
  t.equal(renderLike('', undefined, { e: [], o: {} }), '{"e":[],"o":{}}')
})

t.test('jsonListEdits: insert, replace and remove, each spliced', async t => {
  const text = '{"hooks":[{"path":"/a","args":["x"]},{"path":"/b"}]}'
  const list = memberOf(parseJsonText(text), 'hooks')
  if (list?.kind !== 'array') throw new Error('no list')
  const out = applyEdits(text, jsonListEdits(text, list, [{ op: 'insert', at: 1 }, { op: 'replace', at: 0, why: 'x', options: { binary: '/opt/n' } }], ourHook, { binary: '/b/n' }))
  t.same(JSON.parse(out).hooks, [ourHook({ binary: '/opt/n' }), ourHook({ binary: '/b/n' }), { path: '/b' }])
  t.equal(applyEdits(text, jsonListEdits(text, list, [{ op: 'remove', at: 1 }], ourHook)), '{"hooks":[{"path":"/a","args":["x"]}]}')
})
