// Checks a third-party notices file (build/notices.mjs) against what it
// must cover: the npm packages esbuild's metafile of the build
// (dist/cli.meta.json, written beside dist/cli.js) says are in the bundle,
// with their licence files as node_modules has them, and for the single
// executable the LICENSE of the base Node package the build fetched.
import type { Test } from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

/** Where build/node-base.mjs unpacks the base Node packages. */
const BASE_CACHE = resolve('node_modules/.cache/nvidia-procfs-hook')

/** The base Node package for `arch` (a Debian architecture name) as unpacked by the build: its directory and package.json's name and version. */
export const nodeBase = (arch: 'amd64' | 'arm64') => {
  const prefix = `node-linux-${arch === 'amd64' ? 'x64' : 'arm64'}-`
  const dir = join(BASE_CACHE, readdirSync(BASE_CACHE).find(n => n.startsWith(prefix)) ?? `${prefix}missing`)
  const { name, version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string }
  return { dir, name, version }
}

type Metafile = { outputs: Record<string, { inputs: Record<string, { bytesInOutput: number }> }> }

/** The package directories under node_modules whose files gave bytes to the bundle, by esbuild's metafile, with package.json's name, version and license. */
export const metafilePackages = () => {
  const meta = JSON.parse(readFileSync('dist/cli.meta.json', 'utf8')) as Metafile
  const dirs = new Set<string>()
  for (const output of Object.values(meta.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const m = /^(.*node_modules\/(@[^/]+\/)?[^/]+)\//.exec(input)
      if (m && bytesInOutput > 0) dirs.add(m[1] as string)
    }
  }
  return [...dirs].map(dir => ({ dir, ...(JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name: string; version: string; license: string }) }))
}

/** The file split at its section titles (a line of 79 '=' above and below): the text before the first, then each title with its text. */
export const noticesSections = (text: string) => {
  const [preamble, ...rest] = text.split(/^={79}\n(.*)\n={79}\n\n/m)
  const sections: { title: string; body: string }[] = []
  for (let i = 0; i < rest.length; i += 2) sections.push({ title: rest[i] as string, body: rest[i + 1] as string })
  return { preamble: preamble as string, sections }
}

/**
 * Asserts that `text` names every package the metafile lists (with version and
 * licence, and nothing else), carries at least one licence file of each,
 * verbatim as in its node_modules directory, and no other section; with
 * `node`, last, that base Node package's LICENSE, verbatim.
 */
export const checkNotices = (t: Test, text: string, node?: { dir: string; name: string; version: string }) => {
  const packages = metafilePackages()
  const names = packages.map(p => p.name)
  // The bundle's packages as the brief has them; the list itself comes from the metafile.
  for (const known of ['debug', 'minimist', 'ms', 'smol-toml', 'yaml']) t.ok(names.includes(known), `the metafile lists ${known}`)
  const { preamble, sections } = noticesSections(text)
  const listed = [...preamble.matchAll(/^ {2}(\S+) (\S+) \((.+)\)$/gm)].map(m => `${m[1]} ${m[2]} (${m[3]})`)
  t.same(listed.sort(), packages.map(p => `${p.name} ${p.version} (${p.license})`).sort(), "the list: exactly the metafile's packages, with package.json's version and licence")
  for (const p of packages) {
    const own = sections.filter(s => s.title.startsWith(`${p.name} ${p.version}: `))
    t.ok(own.length > 0, `${p.name}: a licence section`)
    for (const s of own) {
      const file = s.title.slice(`${p.name} ${p.version}: `.length)
      const original = readFileSync(join(p.dir, file), 'utf8')
      t.equal(s.body.replace(/\n+$/, ''), original.replace(/\n+$/, ''), `${p.name}: ${file} verbatim, from ${p.dir}`)
    }
  }
  const nodeTitle = node && `Node.js ${node.version} (${node.name}): LICENSE`
  const expected = (title: string) => title === nodeTitle || packages.some(p => title.startsWith(`${p.name} ${p.version}: `))
  t.same(sections.map(s => s.title).filter(title => !expected(title)), [], 'no other section')
  if (node) {
    t.equal(sections[sections.length - 1]?.title, nodeTitle, `last: ${node.name}'s LICENSE`)
    t.equal(sections[sections.length - 1]?.body, readFileSync(join(node.dir, 'LICENSE'), 'utf8'), `verbatim, from ${node.dir}`)
    t.match(text, `the official Node.js ${node.version} binary\n(npm package ${node.name})`, 'names the base Node package')
  } else {
    t.notMatch(text, /^Node\.js /m, 'no Node.js section: Node is not in it')
  }
  const smolToml = sections.find(s => s.title.startsWith('smol-toml '))
  t.match(smolToml?.body, 'Redistributions in binary form must reproduce the above copyright notice', "smol-toml's BSD-3-Clause, whose notice binaries must carry")
}
