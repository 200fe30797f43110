import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { cdiCheck, entryState, readSpecs } from '../../src/doctor-cdi'
import { main, processIO } from '../../src/cli'
import type { Finding } from '../../src/doctor-finding'
import type { HookIO } from '../../src/hook'
import { ourCdiHook } from '../../src/registration'
import { makeHost } from '../harness/host-tree'

const CORPUS = join(__dirname, '../fixtures/cdi-corpus')
const CDI = join(__dirname, '../fixtures/cdi')
const text = (dir: string, f: string) => readFileSync(join(dir, f), 'utf8')
const BINARY = { 'usr/bin/nvidia-procfs-hook': '#!/bin/sh\nexit 0\n' }

const doctorJSON = (root: string) => {
  const out: string[] = []
  const io: HookIO = { ...processIO(), out: l => out.push(l), err: l => out.push(l) }
  main(['doctor', '--json', '--host-root', root], io)
  return JSON.parse(out[0] as string) as { findings: Finding[] }
}

t.test('--host-root: a spec behind /var/run -> /run (Debian, Ubuntu) is found as the node sees it', async t => {
  // The device plugin's spec in the node's /run/cdi, reached through the node's absolute link.
  const root = makeHost(t, { ...BINARY, 'var/run': { link: '/run' }, 'run/cdi/k8s.device-plugin.nvidia.com-gpu.json': text(CDI, 'k8s-device-plugin.json') })
  const cdi = doctorJSON(root).findings.filter(f => f.check === 'cdi')
  t.same(cdi.map(f => f.summary), ['/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json: NVIDIA hooks run without nvidia-procfs-hook in front (1 hooks list); harmless until runsc runs CDI createContainer hooks'])
  t.same(readSpecs({ root }).map(s => s.file), ['/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json'])
  const loop = makeHost(t, { 'var/run': { link: '/var/run' } })
  t.same(readSpecs({ root: loop }), [
    { file: '/var/run/cdi', changes: [], ddnmForms: [], ourPaths: [], sockets: [], problem: `cannot resolve /var/run/cdi under host root ${loop}: too many levels of symbolic links` },
  ], 'a link loop: named, no crash')
  t.match(doctorJSON(loop).findings.filter(f => f.check === 'cdi'), [{ status: 'fail', summary: `cannot resolve /var/run/cdi under host root ${loop}: too many levels of symbolic links`, fix: 'fix or remove /var/run/cdi' }])
})

t.test("socket mounts runsc's gofer cannot serve, with NVIDIA's generation-side fix", async t => {
  const root = makeHost(t, {
    ...BINARY,
    'etc/cdi/nvidia.yaml': text(CORPUS, 'nvidia-ctk-yamlv3-4space.yaml'),
    'var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json': text(CORPUS, 'k8s-device-plugin-compact.json'),
    'etc/cdi/clean.yaml': text(CDI, 'nvidia-ctk.yaml'),
  })
  const specs = readSpecs({ root })
  t.same(specs.map(s => [s.file, s.sockets]), [
    ['/etc/cdi/clean.yaml', []],
    ['/etc/cdi/nvidia.yaml', ['/run/nvidia-persistenced/socket']],
    ['/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json', ['/run/nvidia-persistenced/socket']],
  ])
  const findings = cdiCheck({ root }, '/usr/bin/nvidia-procfs-hook', specs, ['runs'])
  t.same(findings.filter(f => /cannot serve/.test(f.summary)), [
    {
      check: 'cdi',
      status: 'fail',
      summary: '/etc/cdi/nvidia.yaml: mounts /run/nvidia-persistenced/socket, which runsc\'s gofer cannot serve: every GPU pod given this device fails under runsc (it says only "EOF")',
      fix: 'nvidia-ctk cdi generate --feature-flag=disable-ipc-discoverer --output=/etc/cdi/nvidia.yaml && nvidia-procfs-hook cdi patch /etc/cdi/nvidia.yaml',
    },
    {
      check: 'cdi',
      status: 'fail',
      summary: '/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json: mounts /run/nvidia-persistenced/socket, which runsc\'s gofer cannot serve: every GPU pod given this device fails under runsc (it says only "EOF")',
      fix: "set CDI_FEATURE_FLAGS=disable-ipc-discoverer in the NVIDIA device plugin's environment and restart it (it rewrites /var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json), then nvidia-procfs-hook cdi patch /var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json",
    },
  ])
  t.match(cdiCheck({ root }, '/usr/bin/nvidia-procfs-hook', specs, []).filter(f => /cannot serve/.test(f.summary)), [{ status: 'warn', summary: /harmless under runc and crun/ }, { status: 'warn' }], 'no runsc: a warning')
  const fabric = makeHost(t, { 'etc/cdi/x.json': JSON.stringify({ cdiVersion: '0.5.0', kind: 'nvidia.com/gpu', devices: [{ name: '0', containerEdits: { mounts: [{ hostPath: '/var/run/nvidia-fabricmanager/socket', containerPath: '/x' }, { hostPath: '/tmp/nvidia-mps', containerPath: '/tmp/nvidia-mps' }, { hostPath: '/run/other/socket', containerPath: '/y' }, { containerPath: '/no-host-path' }, 'not a mount'] } }] }) })
  t.same(readSpecs({ root: fabric })[0]?.sockets, ['/var/run/nvidia-fabricmanager/socket', '/tmp/nvidia-mps'], "fabricmanager and MPS too; others' sockets are not NVIDIA's")
})

t.test('our entry per spec, per runsc release: needed, present, unsafe, broken, not needed', async t => {
  const patched = text(CDI, 'nvidia-ctk.yaml').replace(/^(  )- \{hookName: createContainer, path: \/usr\/bin\/nvidia-ctk/m, `$1- ${JSON.stringify(ourCdiHook())}\n$&`)
  const root = makeHost(t, {
    ...BINARY,
    'etc/cdi/a-ctk.yaml': text(CDI, 'nvidia-ctk.yaml'),
    'etc/cdi/b-cdi-hook.yaml': text(CDI, 'nvidia-cdi-hook.yaml'),
    'etc/cdi/c-patched.yaml': patched,
    'etc/cdi/d-broken.yaml': patched.replace('"path":"/usr/bin/nvidia-procfs-hook"', '"path":"/opt/gone/nvidia-procfs-hook"'),
    'etc/cdi/e-unsafe.yaml': text(join(__dirname, '../fixtures/cases'), 'cdi-ours-without-env.yaml'),
    'etc/cdi/f-other.json': JSON.stringify({ cdiVersion: '0.5.0', kind: 'vendor.com/dev', devices: [] }),
  })
  const specs = readSpecs({ root })
  const states = (hooks: Parameters<typeof entryState>[2]) => specs.map(s => entryState({ root }, s, hooks))
  t.same(states('runs'), ['needed', 'needed', 'present', 'broken', 'unsafe', 'not needed'], '20260520: every form needs it')
  t.same(states('runs-but-nvidia-cdi-hook'), ['needed', 'not needed', 'present', 'broken', 'unsafe', 'not needed'], '20260601+: the nvidia-cdi-hook form is skipped')
  t.same(states('skips'), ['not needed', 'not needed', 'present', 'broken', 'unsafe', 'not needed'], 'before 20260520: no CDI hooks run')
})
