// Bundles src/ into dist/cli.js (one file, no runtime dependencies, for
// `npx nvidia-procfs-hook`), then makes the single executable: a Node
// single executable application of that bundle on the pinned official Node
// binary, so GPU nodes need no Node.js. `--arch x64|arm64|all` (default:
// this machine's) chooses which; build/targets.mjs says where each goes.
// Beside each, THIRD-PARTY-NOTICES: the licences of what it holds
// (build/notices.mjs).
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, linkSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { ensureDebianPackages } from './debian-deps.mjs'
import { baseNode as fetchBaseNode } from './node-base.mjs'
import { BUNDLE_NOTICES, bundledPackages, executableNoticesPath, nodeLicence, noticesText, writeNotices } from './notices.mjs'
import { crossPackages, executablePath, HOST_EXECUTABLE, runnerFor, targetArches, TARGETS } from './targets.mjs'

const fail = message => {
  console.error(`nvidia-procfs-hook: ${message}`)
  process.exit(1)
}
let arches
try {
  const { values } = parseArgs({ options: { arch: { type: 'string' }, 'bundle-only': { type: 'boolean' } } })
  arches = values['bundle-only'] ? [] : targetArches(values.arch)
} catch (er) {
  fail(er.message)
}

const dist = resolve('dist')
mkdirSync(dist, { recursive: true })
const { metafile } = await build({
  entryPoints: ['src/main.ts'],
  outfile: join(dist, 'cli.js'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
  // debug probes for supports-color; colours are not worth a dependency here,
  // and inside the executable a failed require() would print a warning.
  alias: { 'supports-color': './build/empty.cjs' },
  legalComments: 'none',
  logLevel: 'warning',
  // Which npm packages the bundle holds, for their licences (build/notices.mjs).
  metafile: true,
})
chmodSync(join(dist, 'cli.js'), 0o755)
// The metafile stays beside the bundle: what the notices were made from, and
// what the packaging tests check them against.
writeFileSync(join(dist, 'cli.meta.json'), `${JSON.stringify(metafile, null, 2)}\n`)
let packages
try {
  packages = bundledPackages(metafile)
  writeNotices(BUNDLE_NOTICES, noticesText(packages))
} catch (er) {
  fail(er.message)
}
// `npm pack` (prepack) needs only the bundle, the npm package's bin, and its notices.
if (!arches.length) process.exit(0)

// The base binaries come from the npm registry (build/node-base.mjs: exact
// version and integrity pinned); nothing is downloaded from anywhere else.
// This machine's needs libatomic1, and strip is binutils'; another
// architecture's needs qemu-user, a sysroot and that architecture's strip.
try {
  ensureDebianPackages('build', arches.flatMap(crossPackages))
} catch (er) {
  fail(er.message)
}

for (const arch of arches) {
  let baseNode, runner, notices
  try {
    baseNode = fetchBaseNode(arch)
    notices = noticesText(packages, nodeLicence(dirname(dirname(baseNode))))
    runner = runnerFor(arch)
  } catch (er) {
    fail(er.message)
  }
  const output = executablePath(arch)
  const work = join(dirname(output), `.sea-${arch}`)
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work, { recursive: true })
  const stripped = join(work, 'node')
  copyFileSync(baseNode, stripped)
  // Strip before the blob goes in: stripping afterwards breaks the executable.
  execFileSync(arch === process.arch ? 'strip' : TARGETS[arch].strip, [stripped])

  const config = join(work, 'sea-config.json')
  writeFileSync(
    config,
    JSON.stringify({
      main: join(dist, 'cli.js'),
      executable: stripped,
      output: join(work, 'nvidia-procfs-hook'),
      disableExperimentalSEAWarning: true,
      // The executable takes no code or options from its environment
      // (test/system/executable.ts): NODE_OPTIONS is ignored; an explicit OpenSSL
      // config overrides OPENSSL_CONF, which could load any shared library at
      // start-up; without warnings, NODE_REDIRECT_WARNINGS has nothing to write.
      execArgvExtension: 'none',
      execArgv: ['--openssl-config=/dev/null', '--no-warnings'],
      // Compiling the bundle (yaml included) cost ~10 ms of every start-up.
      useCodeCache: true,
    }),
  )
  // --build-sea must run on the same Node version as the executable it fills,
  // and on the same architecture for the code cache: a foreign one under qemu.
  const [cmd, ...args] = [...runner, baseNode, '--build-sea', config]
  execFileSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'] })
  // Its notices name the base Node package's LICENSE too (dist/linux-<arch>/THIRD-PARTY-NOTICES).
  writeNotices(executableNoticesPath(arch), notices)
  // A rename, so a run of the previous executable in progress is not disturbed.
  renameSync(join(work, 'nvidia-procfs-hook'), output)
  if (arch === process.arch) {
    linkSync(output, join(work, 'host'))
    renameSync(join(work, 'host'), HOST_EXECUTABLE)
  }
  rmSync(work, { recursive: true, force: true })
  console.log(`built ${output} (${arch}, ${(statSync(output).size / 1e6).toFixed(1)} MB)`)
}
