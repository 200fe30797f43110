import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { resolve } from 'node:path'
import { DEB_ARCH } from '../harness/target'

// build/deb.mjs's refusals (build/rpm.mjs's too, where both share them); test/system/package.ts builds and checks a real package.
const DEB_SCRIPT = resolve('build/deb.mjs')
// Without tap's NODE_OPTIONS (which tap puts back into every spawn's env, so
// env(1) takes it out): build code is not what the suite's coverage is about.
const node = (cwd: string, args: string[]) => spawnSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, ...args], { cwd, encoding: 'utf8' })
const run = (cwd: string, out: string[] = [`${cwd}/out`]) => node(cwd, [DEB_SCRIPT, ...out])

t.test('refuses to package before the executable is built', async t => {
  const dir = t.testdir({ 'package.json': JSON.stringify({ version: '9.9.9' }) })
  for (const out of [[], [`${dir}/out`]]) {
    const res = run(dir, out)
    t.equal(res.status, 1)
    t.equal(res.stderr, `${dir}/dist/linux-${DEB_ARCH[process.arch]}/nvidia-procfs-hook does not exist: run npm run build first\n`, out.length ? 'out dir given' : 'default out dir')
  }
})

t.test('refuses to package an executable without its third-party notices (build/notices.mjs)', async t => {
  for (const script of [DEB_SCRIPT, resolve('build/rpm.mjs')]) {
    const dir = t.testdir({ 'package.json': JSON.stringify({ version: '9.9.9' }), dist: { [`linux-${DEB_ARCH[process.arch]}`]: { 'nvidia-procfs-hook': 'built by an older build.mjs' } } })
    const res = node(dir, [script, `${dir}/out`])
    t.equal(res.status, 1)
    t.equal(res.stderr, `${dir}/dist/linux-${DEB_ARCH[process.arch]}/THIRD-PARTY-NOTICES does not exist: run npm run build first\n`, script)
    t.same(readdirSync(dir).sort(), ['dist', 'package.json'], 'nothing written')
  }
})

t.test('refuses a man page that names another version', async t => {
  const dir = t.testdir({
    'package.json': JSON.stringify({ version: '9.9.9' }),
    dist: { [`linux-${DEB_ARCH[process.arch]}`]: { 'nvidia-procfs-hook': 'not really an executable', 'THIRD-PARTY-NOTICES': 'notices' } },
    man: { 'nvidia-procfs-hook.1': '.TH NVIDIA-PROCFS-HOOK 1 "2026-11-26" "nvidia-procfs-hook 0.1.0"\n' },
  })
  const res = run(dir)
  t.equal(res.status, 1)
  t.equal(res.stderr, 'man/nvidia-procfs-hook.1: its .TH line does not name version 9.9.9\n')
})

t.test('--arch: an unknown one is named; a foreign one not built says how to build it', async t => {
  for (const script of [DEB_SCRIPT, resolve('build/rpm.mjs')]) {
    const dir = t.testdir({ 'package.json': JSON.stringify({ version: '9.9.9' }), dist: { [`linux-${DEB_ARCH[process.arch]}`]: { 'nvidia-procfs-hook': 'built for this machine', 'THIRD-PARTY-NOTICES': 'its notices' } } })
    const unknown = node(dir, [script, '--arch', 'riscv64'])
    t.equal(unknown.status, 1)
    t.equal(unknown.stderr, 'nvidia-procfs-hook: --arch riscv64: not one of x64, arm64, all\n', script)
    const foreign = process.arch === 'x64' ? 'arm64' : 'x64'
    const all = node(dir, [script, '--arch', 'all'])
    t.equal(all.status, 1)
    t.equal(all.stderr, `${dir}/dist/linux-${DEB_ARCH[foreign]}/nvidia-procfs-hook does not exist: run node build/build.mjs --arch ${foreign} first\n`, script)
    t.same(readdirSync(dir).sort(), ['dist', 'package.json'], 'nothing written')
  }
})
