// The third-party notices that ship with what build/build.mjs makes: the
// licence files of every npm package esbuild put in the bundle (its
// metafile says which), read from node_modules, and for the single
// executable also the LICENSE of the official Node package it is built on
// (build/node-base.mjs; that file covers Node.js and the libraries Node
// includes: V8, OpenSSL, ICU, libuv, zlib…). Licences such as smol-toml's
// BSD-3-Clause ask for their notice in binary distributions; the .deb, the
// .rpm and the npm package carry these files (build/deb.mjs, build/rpm.mjs,
// package.json "files"). The text depends only on its inputs: no time, no
// absolute path, packages and files in code point order.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { TARGETS } from './targets.mjs'

/** The file name of every notices file, wherever it goes. */
export const NOTICES = 'THIRD-PARTY-NOTICES'

/** The npm package's notices (the bundle's packages only), next to dist/cli.js. */
export const BUNDLE_NOTICES = resolve('dist', NOTICES)

/** The single executable's notices for `arch` (process.arch), next to it in dist/linux-<Debian arch>/ (build/targets.mjs). */
export const executableNoticesPath = arch => resolve('dist', `linux-${TARGETS[arch].deb}`, NOTICES)

/** A package's top-level files that hold its licence or notices (LICENSE, license.md, COPYING, NOTICE.txt, LICENSE-MIT…). */
const LICENCE_FILE = /^(licen[cs]e|copying|notice)([.-].*)?$/i

/** The line above and below each section's title. */
const RULE = '='.repeat(79)

const byCodePoint = (a, b) => (a < b ? -1 : a > b ? 1 : 0)

/**
 * The npm packages whose code is in an esbuild bundle: every input that
 * contributed bytes to an output of `metafile` (esbuild's, with paths relative
 * to the working directory) and lies under a node_modules/ directory, grouped
 * by its package directory (the last node_modules/name or
 * node_modules/@scope/name in the path). Returns
 * [{ name, version, license, dir, files: [{ name, text }] }] in code point
 * order of name then dir: package.json's name, version and license fields,
 * the directory relative to the working directory, and its licence files.
 * Throws naming the package when it has no licence file or no package.json.
 */
export const bundledPackages = metafile => {
  const dirs = new Set()
  for (const output of Object.values(metafile.outputs)) {
    for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
      const dir = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input)?.[1]
      if (dir && bytesInOutput > 0) dirs.add(dir)
    }
  }
  return [...dirs]
    .map(dir => {
      const { name, version, license } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
      const files = readdirSync(dir)
        .filter(f => LICENCE_FILE.test(f))
        .sort(byCodePoint)
        .map(f => ({ name: f, text: readFileSync(join(dir, f), 'utf8') }))
      if (!files.length) throw new Error(`${dir}: the bundle holds ${name} ${version}, which has no licence file to ship`)
      return { name, version, license, dir, files }
    })
    .sort((a, b) => byCodePoint(a.name, b.name) || byCodePoint(a.dir, b.dir))
}

/** { name, version, file: 'LICENSE', text } of the official Node package unpacked in `dir` (build/node-base.mjs); throws when its LICENSE is missing. */
export const nodeLicence = dir => {
  const { name, version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  return { name, version, file: 'LICENSE', text: readFileSync(join(dir, 'LICENSE'), 'utf8') }
}

/** One section: its title between two RULE lines, then `text`; throws when `text` has a RULE line, which would make the file ambiguous. */
const section = (title, text) => {
  if (text.split(/\r?\n/).includes(RULE)) throw new Error(`${title}: the text has a line of ${RULE.length} '=', which the notices file uses to separate sections`)
  return `${RULE}\n${title}\n${RULE}\n\n${text.endsWith('\n') ? text : `${text}\n`}`
}

/**
 * The notices file's text: what the program is made of, then one section per
 * licence file, verbatim, each under a title "<package> <version>: <file>".
 * `packages` is bundledPackages()'s list; `node`, nodeLicence()'s, is given
 * for the single executable and absent for the npm package's dist/cli.js.
 */
export const noticesText = (packages, node) => {
  const lines = [
    'Third-party software in nvidia-procfs-hook',
    '',
    ...(node
      ? [
          `The nvidia-procfs-hook executable is the official Node.js ${node.version} binary`,
          `(npm package ${node.name}) with a bundle in it of nvidia-procfs-hook's`,
          'code (Apache-2.0) and these npm packages:',
        ]
      : ["dist/cli.js is a bundle of nvidia-procfs-hook's code (Apache-2.0) and these", 'npm packages:']),
    '',
    ...packages.map(p => `  ${p.name} ${p.version} (${p.license})`),
    '',
    ...(node
      ? ["Their licence files follow, verbatim, then Node.js's LICENSE, which also", 'covers the libraries Node.js includes.']
      : ['Their licence files follow, verbatim.']),
    '',
  ]
  const sections = packages.flatMap(p => p.files.map(f => section(`${p.name} ${p.version}: ${f.name}`, f.text)))
  if (node) sections.push(section(`Node.js ${node.version} (${node.name}): ${node.file}`, node.text))
  return [lines.join('\n'), ...sections].join('\n')
}

/** Writes `text` to `file` through a temporary file and a rename: a reader sees the old file or the new one. */
export const writeNotices = (file, text) => {
  const tmp = join(dirname(file), `.${NOTICES}.${process.pid}`)
  writeFileSync(tmp, text)
  renameSync(tmp, file)
}
