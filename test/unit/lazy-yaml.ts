import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { build } from 'esbuild'

// yaml is ~200 KB of code that only `cdi` needs: the hook, run for every
// container, must not evaluate it. Bundled as the build does it, with yaml
// marked, then run down each path.
t.test('the bundled hook never loads yaml; cdi does', async t => {
  const dir = t.testdir({ 'report.cjs': "process.on('exit', () => process.stderr.write(`yaml-loaded=${globalThis.__nphYamlLoaded === true}\\n`))\n" })
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
        name: 'mark-yaml',
        setup: b =>
          b.onLoad({ filter: /node_modules\/yaml\/dist\/index\.js$/ }, args => ({
            contents: `globalThis.__nphYamlLoaded = true;\n${readFileSync(args.path, 'utf8')}`,
            loader: 'js',
          })),
      },
    ],
  })
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ['--require', join(dir, 'report.cjs'), bundle, ...args], { encoding: 'utf8', input: '' }).stderr
  t.match(run('hook', '--rootfs', dir, '--dry-run'), /yaml-loaded=false/, 'hook')
  t.match(run('precreate'), /yaml-loaded=false/, 'precreate')
  t.match(run('cdi', 'check', dir), /yaml-loaded=true/, 'cdi (the marker works)')
})
