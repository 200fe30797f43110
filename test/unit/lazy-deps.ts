import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'

// The hook runs for every container: it must not evaluate code it does not
// need. yaml (~200 KB) is for `cdi` alone, smol-toml for `doctor` alone.
// Bundled as the build does it, with each library marked, then run down
// each path; the command that needs a library shows the marker works.
const LIBRARIES = {
  yaml: /node_modules\/yaml\/dist\/index\.js$/,
  'smol-toml': /node_modules\/smol-toml\/dist\/index\.c?js$/,
}

t.test('each library is loaded only by the command that needs it', async t => {
  const dir = t.testdir({
    'report.cjs': "process.on('exit', () => process.stderr.write(`loaded=${JSON.stringify(globalThis.__nphLoaded ?? [])}\\n`))\n",
  })
  const bundle = join(dir, 'cli.js')
  await build({
    entryPoints: [resolve('src/main.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    alias: { 'supports-color': resolve('build/empty.cjs') },
    logLevel: 'warning',
    plugins: Object.entries(LIBRARIES).map(([name, filter]) => ({
      name: `mark-${name}`,
      setup: (b: import('esbuild').PluginBuild) =>
        b.onLoad({ filter }, args => ({
          contents: `(globalThis.__nphLoaded ??= []).push(${JSON.stringify(name)});\n${readFileSync(args.path, 'utf8')}`,
          loader: 'js',
        })),
    })),
  })
  const loaded = (...args: string[]): string[] => {
    const stderr = spawnSync(process.execPath, ['--require', join(dir, 'report.cjs'), bundle, ...args], { encoding: 'utf8', input: '' }).stderr
    return JSON.parse(/loaded=(.*)\n/.exec(stderr)?.[1] ?? 'null') as string[]
  }
  t.same(loaded('hook', '--rootfs', dir, '--dry-run'), [], 'hook')
  t.same(loaded('precreate'), [], 'precreate')
  t.same(loaded('cdi', 'check', dir), ['yaml'], 'cdi')
  t.same(loaded('doctor', '--host-root', dir).sort(), ['smol-toml', 'yaml'].sort(), 'doctor (reads specs and engine configs)')
})
