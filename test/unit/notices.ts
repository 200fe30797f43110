// build/notices.mjs on node_modules trees made here: which packages a
// metafile puts in the bundle (nested and scoped ones, not those tree-shaken
// to nothing), in a fixed order; the refusals. test/system/package.ts,
// rpm.ts and npm-package.ts check the real build's notices.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { pathToFileURL } from 'node:url'
import { resolve } from 'node:path'

const NOTICES = pathToFileURL(resolve('build/notices.mjs')).href

/** Runs `code` (an ES module, with build/notices.mjs's exports in scope) in `cwd`, without tap's NODE_OPTIONS. */
const run = (cwd: string, code: string) =>
  spawnSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, '--input-type=module', '-e', `import * as n from ${JSON.stringify(NOTICES)}\n${code}`], { cwd, encoding: 'utf8' })

const pkg = (name: string, version: string, license: string, files: Record<string, string>) => ({ 'package.json': JSON.stringify({ name, version, license }), ...files })
const metafile = (inputs: Record<string, number>) =>
  JSON.stringify({ inputs: {}, outputs: { 'dist/cli.js': { inputs: Object.fromEntries(Object.entries(inputs).map(([k, bytesInOutput]) => [k, { bytesInOutput }])) } } })

t.test('the packages a metafile puts in the bundle: by their last node_modules directory, licence files in code point order', async t => {
  const dir = t.testdir({
    node_modules: {
      zed: { ...pkg('zed', '1.0.0', 'MIT', { 'license.md': 'zed licence\n', 'LICENSE-APACHE': 'apache\n', 'README.md': 'not a licence' }), lib: { 'a.js': '' } },
      '@scope': { pkg: { ...pkg('@scope/pkg', '2.0.0', 'ISC', { LICENSE: 'scoped\n' }), 'index.js': '', node_modules: { zed: { ...pkg('zed', '0.9.0', 'BSD-3-Clause', { COPYING: 'old zed' }), 'i.js': '' } } } },
      shaken: { ...pkg('shaken', '1.0.0', 'MIT', { LICENSE: 'x' }), 'i.js': '' },
    },
    src: { 'main.ts': '' },
  })
  const meta = metafile({ 'src/main.ts': 10, 'node_modules/zed/lib/a.js': 5, 'node_modules/@scope/pkg/index.js': 3, 'node_modules/@scope/pkg/node_modules/zed/i.js': 1, 'node_modules/shaken/i.js': 0 })
  const res = run(dir, `console.log(JSON.stringify(n.bundledPackages(${meta})))`)
  t.equal(res.stderr, '')
  t.same(JSON.parse(res.stdout), [
    { name: '@scope/pkg', version: '2.0.0', license: 'ISC', dir: 'node_modules/@scope/pkg', files: [{ name: 'LICENSE', text: 'scoped\n' }] },
    { name: 'zed', version: '0.9.0', license: 'BSD-3-Clause', dir: 'node_modules/@scope/pkg/node_modules/zed', files: [{ name: 'COPYING', text: 'old zed' }] },
    { name: 'zed', version: '1.0.0', license: 'MIT', dir: 'node_modules/zed', files: [{ name: 'LICENSE-APACHE', text: 'apache\n' }, { name: 'license.md', text: 'zed licence\n' }] },
  ], 'our own files and a package with no bytes in the output are not listed')

  const text = run(dir, `process.stdout.write(n.noticesText(n.bundledPackages(${meta})))`)
  t.equal(text.stdout, run(dir, `process.stdout.write(n.noticesText(n.bundledPackages(${meta})))`).stdout, 'the same text each time')
  t.match(text.stdout, /^ {2}@scope\/pkg 2\.0\.0 \(ISC\)\n {2}zed 0\.9\.0 \(BSD-3-Clause\)\n {2}zed 1\.0\.0 \(MIT\)\n/m)
  t.match(text.stdout, `${'='.repeat(79)}\nzed 0.9.0: COPYING\n${'='.repeat(79)}\n\nold zed\n`, 'a text without a final newline gets one')
})

t.test('refuses a bundled package without a licence file, and a licence text that has a section rule', async t => {
  const dir = t.testdir({ node_modules: { bare: { ...pkg('bare', '1.2.3', 'MIT', { 'README.md': 'MIT, says the readme' }), 'i.js': '' }, rule: pkg('rule', '1.0.0', 'MIT', { LICENSE: `text\n${'='.repeat(79)}\nmore\n` }) } })
  const bare = run(dir, `n.bundledPackages(${metafile({ 'node_modules/bare/i.js': 1 })})`)
  t.not(bare.status, 0)
  t.match(bare.stderr, 'Error: node_modules/bare: the bundle holds bare 1.2.3, which has no licence file to ship\n')
  const rule = run(dir, `n.noticesText(n.bundledPackages(${metafile({ 'node_modules/rule/i.js': 1 })}))`)
  t.not(rule.status, 0)
  t.match(rule.stderr, "Error: rule 1.0.0: LICENSE: the text has a line of 79 '=', which the notices file uses to separate sections\n")
})
