// What build/deb.mjs and build/rpm.mjs both start from: the command line
// (`[--arch x64|arm64|all] [OUT]`), each architecture's built executable and
// its third-party notices, the man page of this version, and a way to lay
// files out as installed.
import { chmodSync, copyFileSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { gzipSync } from 'node:zlib'
import { executableNoticesPath } from './notices.mjs'
import { executablePath, NAME, targetArches } from './targets.mjs'

const fail = message => {
  console.error(message)
  process.exit(1)
}

/**
 * { arches, out, version, man }: the architectures to package (build/targets.mjs),
 * the absolute output directory (default dist/), package.json's version and
 * the man page's text. Exits 1 with one line when an argument is unknown, an
 * executable or its notices (build/notices.mjs) is not built, or the man page
 * names another version.
 */
export const packagingInputs = () => {
  let arches, positionals
  try {
    ;({ positionals, values: { arch: arches } } = parseArgs({ allowPositionals: true, options: { arch: { type: 'string' } } }))
    arches = targetArches(arches)
  } catch (er) {
    fail(`nvidia-procfs-hook: ${er.message}`)
  }
  const { version } = JSON.parse(readFileSync('package.json', 'utf8'))
  for (const arch of arches) {
    for (const built of [executablePath(arch), executableNoticesPath(arch)]) {
      if (!statSync(built, { throwIfNoEntry: false })?.isFile()) {
        fail(`${built} does not exist: run ${arch === process.arch ? 'npm run build' : `node build/build.mjs --arch ${arch}`} first`)
      }
    }
  }
  const man = readFileSync(`man/${NAME}.1`, 'utf8')
  if (!man.includes(`"${NAME} ${version}"`)) fail(`man/${NAME}.1: its .TH line does not name version ${version}`)
  return { arches, out: resolve(positionals[0] ?? 'dist'), version, man }
}

/**
 * The hooks.d files both packages install, as [installed path, source in
 * hooks.d/] (README "hooks.d"; the paths are src/host-layout.ts's):
 * podman's precreate file in a directory of ours that no engine reads until
 * containers.conf names it (CRI-O and the NRI hook-injector refuse the
 * precreate stage and stop), and CRI-O's createContainer file where CRI-O
 * reads by default.
 */
export const HOOKS_D_FILES = [
  [`/usr/share/${NAME}/hooks.d/${NAME}.json`, `hooks.d/${NAME}.json`],
  [`/usr/share/containers/oci/hooks.d/${NAME}-createcontainer.json`, `hooks.d/${NAME}-createcontainer.json`],
]

/** put(path, data, mode) under `root`: data is text, a Buffer, or { from: a file to copy }. */
export const stager = root => (path, data, mode = 0o644) => {
  const file = join(root, path)
  mkdirSync(dirname(file), { recursive: true })
  if (typeof data === 'string' || Buffer.isBuffer(data)) writeFileSync(file, data)
  else copyFileSync(data.from, file)
  chmodSync(file, mode)
}

/** The Apache-2.0 notice, one string per paragraph, each line indented by one space (as both packages' copyright files have it). */
export const APACHE_NOTICE = [
  ` Licensed under the Apache License, Version 2.0 (the "License");
 you may not use this file except in compliance with the License.
 You may obtain a copy of the License at`,
  ' http://www.apache.org/licenses/LICENSE-2.0',
  ` Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS,
 WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 See the License for the specific language governing permissions and
 limitations under the License.`,
]

/**
 * Where a package's copyright file points for the executable's third-party
 * notices (installed at `path`), as lines of text: the executable is Node
 * with a bundle of npm packages in it (build/notices.mjs).
 */
export const noticesReference = path => [
  `/usr/bin/${NAME} is the official Node.js binary`,
  "with a bundle of this package's code and the npm packages it uses;",
  "their copyright and licence notices, and Node.js's, are in",
  `${path}.`,
]

// zlib's gzip header carries no file name and no time: equal input, equal bytes.
export const gzip = text => gzipSync(text, { level: 9 })
