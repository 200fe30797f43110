import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'

// smol-toml reads the engines' configuration for doctor alone: the hook, run
// for every container, and the other commands must not evaluate it. Bundled as
// the build does it, with smol-toml marked, then run down each path.
t.test('the bundled hook never loads smol-toml; doctor does', async t => {
  const dir = t.testdir({ 'report.cjs': "process.on('exit', () => process.stderr.write(`toml-loaded=${globalThis.__nphTomlLoaded === true}\\n`))\n" })
  const bundle = join(dir, 'cli.js')
  await build({
    entryPoints: [resolve('src/main.ts')],
    outfile: bundle,
    bundle: true,
    platform: 'node',
    format: 'cjs',
    alias: { 'supports-color': resolve('build/empty.cjs') },
    logLevel: 'warning',
    plugins: [
      {
        name: 'mark-toml',
        setup: b =>
          b.onLoad({ filter: /node_modules\/smol-toml\/dist\/index\.c?js$/ }, args => ({
            contents: `globalThis.__nphTomlLoaded = true;\n${readFileSync(args.path, 'utf8')}`,
            loader: 'js',
          })),
      },
    ],
  })
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--require', join(dir, 'report.cjs'), bundle, ...args], { encoding: 'utf8', input: '' }).stderr
  t.match(run('hook', '--rootfs', dir, '--dry-run'), /toml-loaded=false/, 'hook')
  t.match(run('precreate'), /toml-loaded=false/, 'precreate')
  t.match(run('cdi', 'check', dir), /toml-loaded=false/, 'cdi')
  t.match(run('doctor', '--host-root', dir), /toml-loaded=true/, 'doctor (the marker works)')
})
