import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import * as fs from 'node:fs'
import { chmodSync, copyFileSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setSpecDir } from '../harness/cdi-dirs'
import { CDI_USAGE } from '../../src/cdi'
import { main, processIO } from '../../src/cli'
import type { HookIO } from '../../src/hook'

const FIXTURES = join(__dirname, '../fixtures/cdi')
const SPECS = ['nvidia-cdi-hook.yaml', 'nvidia-ctk.yaml', 'k8s-device-plugin.json']

const run = (argv: string[]) => {
  const out: string[] = []
  const err: string[] = []
  const io: HookIO = { ...processIO(), out: l => out.push(l), err: l => err.push(l) }
  return { code: main(['cdi', ...argv], io), out, err }
}

/** A spec dir holding the fixtures, and an executable to register. */
const setup = (t: Test, extra: Record<string, string> = {}) => {
  const dir = t.testdir({ specs: { ...Object.fromEntries(SPECS.map(n => [n, readFileSync(join(FIXTURES, n), 'utf8')])), ...extra }, 'nph': '#!/bin/sh\n' })
  chmodSync(join(dir, 'nph'), 0o755)
  return { specs: join(dir, 'specs'), binary: join(dir, 'nph'), dir }
}

t.test('usage', async t => {
  t.same(run(['--help']), { code: 0, out: [CDI_USAGE], err: [] })
  const cases: [string[], string][] = [
    [[], 'cdi: expected patch, check or revert; see cdi --help'],
    [['fix'], 'cdi: expected patch, check or revert, got "fix"; see cdi --help'],
    [['check', '--watch'], 'cdi: --watch, --binary and --log-file apply to patch only'],
    [['revert', '--binary', '/x'], 'cdi: --watch, --binary and --log-file apply to patch only'],
    [['patch', '--binary', 'x'], 'cdi: --binary must be an absolute path'],
    [['patch', '--bogus'], 'cdi: unknown option --bogus'],
  ]
  for (const [argv, message] of cases) t.same(run(argv), { code: 2, out: [], err: [`nvidia-procfs-hook: error: ${message}`] }, argv.join(' '))
})

t.test('patch refuses a binary that is not there: the entry would fail every GPU container', async t => {
  const { specs, dir } = setup(t, { 'plain': 'x' })
  const missing = run(['patch', specs])
  t.equal(missing.code, 1)
  t.match(missing.err, [/^nvidia-procfs-hook: error: cdi: \/usr\/bin\/nvidia-procfs-hook is not an executable file \(ENOENT\); install it or pass --binary/])
  t.match(run(['patch', '--binary', dir, specs]).err, [/is not an executable file \(not a file\)/])
  t.match(run(['patch', '--binary', join(specs, 'plain'), specs]).err, [/is not an executable file \(EACCES\)/])
  t.equal(readFileSync(join(specs, SPECS[0] as string), 'utf8'), readFileSync(join(FIXTURES, SPECS[0] as string), 'utf8'), 'nothing written')
})

t.test('check, patch, check, patch again, revert', async t => {
  const { specs, binary } = setup(t, { 'notes.txt': 'not a spec', 'none.yaml': 'kind: x/y\ncontainerEdits: {env: [A=1]}\n' })
  mkdirSync(join(specs, 'sub.yaml'))
  const first = run(['check', specs])
  t.equal(first.code, 1, 'fresh NVIDIA specs need patching')
  t.same(first.out, [
    `${specs}/k8s-device-plugin.json: needs patching: containerEdits.hooks: no nvidia-procfs-hook before NVIDIA's hooks`,
    `${specs}/nvidia-cdi-hook.yaml: needs patching: containerEdits.hooks: no nvidia-procfs-hook before NVIDIA's hooks`,
    `${specs}/nvidia-ctk.yaml: needs patching: containerEdits.hooks: no nvidia-procfs-hook before NVIDIA's hooks`,
  ])
  const modes = Object.fromEntries(SPECS.map(n => [n, statSync(join(specs, n)).mode]))
  const patched = run(['patch', '--binary', binary, '--log-file', '/var/log/nph.log', specs])
  t.same(patched, { code: 0, out: first.out.map(l => `patched ${l.split(':')[0]} (1 hooks list)`), err: [] })
  t.match(readFileSync(join(specs, 'nvidia-ctk.yaml'), 'utf8'), `path: ${binary}, args: [nvidia-procfs-hook, hook, --stage, createContainer, --log-file, /var/log/nph.log]`)
  for (const n of SPECS) t.equal(statSync(join(specs, n)).mode, modes[n], `${n}: mode kept`)
  t.same(readdirSync(specs).sort(), [...SPECS, 'none.yaml', 'notes.txt', 'sub.yaml'].sort(), 'no temp file left')
  t.same(run(['check', specs]), { code: 0, out: [], err: [] }, 'a patched spec passes check')
  const before = SPECS.map(n => statSync(join(specs, n)).ino)
  t.same(run(['patch', '--binary', binary, specs]), { code: 0, out: [], err: [] }, 'idempotent')
  t.same(SPECS.map(n => statSync(join(specs, n)).ino), before, 'unchanged specs are not rewritten')
  const reverted = run(['revert', specs])
  t.same(reverted.out, first.out.map(l => `reverted ${l.split(':')[0]} (1 entry removed)`))
  for (const n of SPECS) t.equal(readFileSync(join(specs, n), 'utf8'), readFileSync(join(FIXTURES, n), 'utf8'), `${n}: back to the original`)
})

t.test('FILE arguments, links, and files that cannot be handled', async t => {
  const { specs, binary, dir } = setup(t, { 'broken.yaml': 'kind: [', 'any.name': readFileSync(join(FIXTURES, 'k8s-device-plugin.json'), 'utf8') })
  const elsewhere = join(dir, 'elsewhere.yaml')
  copyFileSync(join(FIXTURES, 'nvidia-ctk.yaml'), elsewhere)
  symlinkSync(elsewhere, join(specs, 'link.yaml'))
  symlinkSync(join(dir, 'gone'), join(specs, 'dangling.yaml'))
  symlinkSync('loop.yaml', join(specs, 'loop.yaml'))
  const res = run(['patch', '--binary', binary, specs, join(specs, 'any.name')])
  t.equal(res.code, 1, 'a spec that could not be handled fails the run')
  t.same(res.err, [
    `nvidia-procfs-hook: error: ${specs}/broken.yaml: not valid YAML (Flow sequence in block collection must be sufficiently indented and end with a ] at line 1, column 8)`,
    `nvidia-procfs-hook: error: ${specs}/dangling.yaml: does not exist`,
    `nvidia-procfs-hook: error: ${specs}/loop.yaml: ELOOP`,
  ])
  t.same(res.out.map(l => l.replace(/ \(.*/, '')), [
    `patched ${specs}/k8s-device-plugin.json`,
    `patched ${specs}/link.yaml`,
    `patched ${specs}/nvidia-cdi-hook.yaml`,
    `patched ${specs}/nvidia-ctk.yaml`,
    `patched ${specs}/any.name`,
  ], 'the others are still patched')
  t.equal(readFileSync(join(specs, 'broken.yaml'), 'utf8'), 'kind: [', 'the broken spec untouched')
  t.ok(fs.lstatSync(join(specs, 'link.yaml')).isSymbolicLink(), 'the link stays a link')
  t.match(readFileSync(elsewhere, 'utf8'), /nvidia-procfs-hook/, 'its target is patched')
  t.same(run(['check', join(dir, 'nope')]), { code: 1, out: [], err: [`nvidia-procfs-hook: error: ${dir}/nope: does not exist`] })
  t.same(run(['check', join(elsewhere, 'x')]), { code: 1, out: [], err: [`nvidia-procfs-hook: error: ${elsewhere}/x: does not exist`] })
  symlinkSync('loop', join(dir, 'loop'))
  t.same(run(['check', join(dir, 'loop')]), { code: 1, out: [], err: [`nvidia-procfs-hook: error: ${dir}/loop: ELOOP`] })
})

t.test('several hooks lists in one spec; a bug is one line, exit 1', async t => {
  const { specs, binary } = setup(t)
  const nvidia = { hookName: 'createContainer', path: '/usr/bin/nvidia-cdi-hook', args: ['nvidia-cdi-hook', 'disable-device-node-modification'] }
  const file = join(specs, 'two.json')
  writeFileSync(file, JSON.stringify({ cdiVersion: '0.5.0', kind: 'nvidia.com/gpu', devices: [{ name: '0', containerEdits: { hooks: [nvidia] } }], containerEdits: { hooks: [nvidia] } }))
  t.same(run(['patch', '--binary', binary, file]).out, [`patched ${file} (2 hooks lists)`])
  t.same(run(['revert', file]).out, [`reverted ${file} (2 entries removed)`])
  const nodeFs = require('node:fs') as typeof fs
  const realFsync = nodeFs.fsyncSync
  let calls = 0
  // The directory's fsync (the second) fails with something that is not a HookError.
  const fsync = t.capture(nodeFs, 'fsyncSync', (fd: number) => (++calls === 2 ? (() => { throw new Error('injected') })() : realFsync(fd)))
  const res = run(['patch', '--binary', binary, file])
  fsync.restore()
  t.same(res, { code: 1, out: [], err: ['nvidia-procfs-hook: internal error: injected'] })
})

t.test('default directories: /etc/cdi and /var/run/cdi, absent ones skipped', async t => {
  const { specs } = setup(t)
  const hideEtc = setSpecDir('/etc/cdi')
  const hideRun = setSpecDir('/var/run/cdi')
  t.same(run(['check']), { code: 0, out: [], err: [] })
  hideEtc()
  t.teardown(hideRun)
  t.teardown(setSpecDir('/etc/cdi', specs))
  const res = run(['check'])
  t.equal(res.code, 1)
  t.same(res.out.map(l => l.split(':')[0]), SPECS.map(n => `/etc/cdi/${n}`).sort())
})

t.test('check names an unsafe entry of ours; patch replaces it, keeping its binary; then check passes', async t => {
  const dir = t.testdir({ 'o.yaml': readFileSync(join(__dirname, '../fixtures/cases/cdi-ours-without-env.yaml'), 'utf8'), nph: '#!/bin/sh\n' })
  const file = join(dir, 'o.yaml')
  const binary = join(dir, 'nph')
  chmodSync(binary, 0o755)
  t.same(run(['check', file]), {
    code: 1,
    out: [`${file}: needs patching: containerEdits.hooks: an unsafe entry of ours (no env (it would inherit the container image's, LD_PRELOAD included))`],
    err: [],
  })
  // Its binary (/usr/bin/nvidia-procfs-hook) is kept, not --binary's: the fix is only the env.
  t.same(run(['patch', '--binary', binary, file]).out, [`patched ${file} (1 hooks list)`])
  t.match(readFileSync(file, 'utf8'), /path: \/usr\/bin\/nvidia-procfs-hook\n    args: \[nvidia-procfs-hook, hook, --stage, createContainer\]\n    env: \[PATH=\/usr\/sbin:\/usr\/bin:\/sbin:\/bin\]\n/)
  t.same(run(['check', file]), { code: 0, out: [], err: [] })
})
