import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { containerdView } from '../../src/engine-containerd'
import { makeHost, type HostLayout } from '../harness/host-tree'

// containerd 2.1's own `containerd config default` (Debian sid 2.1.9), with
// gVisor's handler added as gvisor.dev shows it; version 2 as containerd 1.7 reads it.
const FIXTURES = join(__dirname, '../fixtures/engines/containerd-2.1')
const fixture = (f: string) => readFileSync(join(FIXTURES, f), 'utf8')
const RUNSC = '#!/bin/sh\nexit 0\n'

const host = (t: Test, layout: HostLayout) => ({ root: makeHost(t, layout) })

t.test('containerd 2.1 (config version 3): the runsc handler, its shim options and runsc.toml', async t => {
  const h = host(t, {
    'etc/containerd/config.toml': fixture('config-default.toml') + fixture('runsc-handlers.toml'),
    'etc/containerd/runsc.toml': fixture('runsc.toml'),
    'usr/local/bin/runsc': RUNSC,
  })
  const view = containerdView(h)
  t.same(view.problems, [])
  t.same(view.runscs, [
    {
      engine: 'containerd',
      name: 'runsc',
      wanted: '/usr/local/bin/runsc',
      flags: { debug: 'true', 'debug-log': '/var/log/runsc/%ID%/gvisor.%COMMAND%.log' },
      configured: true,
      source: '/etc/containerd/config.toml',
      binary: '/usr/local/bin/runsc',
      flagsFile: '/etc/containerd/runsc.toml',
    },
  ])
  t.same(containerdView(host(t, { 'etc/containerd/config.toml': fixture('config-default.toml') })).runscs, [], "the default config: runc's handler only")
})

t.test('config version 2; no ConfigPath: runsc on PATH; a handler whose runsc is missing', async t => {
  const v2 = containerdView(host(t, { 'etc/containerd/config.toml': fixture('config-v2.toml'), 'usr/bin/runsc': RUNSC }))
  t.match(v2.runscs, [{ name: 'runsc', wanted: 'runsc', binary: '/usr/bin/runsc', flags: {} }], 'ConfigPath names no file: binary_name defaults to runsc on PATH')
  const missing = containerdView(host(t, { 'etc/containerd/config.toml': fixture('config-v2.toml'), 'etc/containerd/runsc.toml': fixture('runsc.toml') }))
  t.same(missing.runscs.map(r => [r.wanted, r.binary]), [['/usr/local/bin/runsc', undefined]])
})

t.test("imports: a drop-in's handler and runsc_config flags", async t => {
  const view = containerdView(
    host(t, {
      'etc/containerd/config.toml': fixture('config-default.toml').replace("imports = []", "imports = ['/etc/containerd/conf.d/*.toml']"),
      'etc/containerd/conf.d/50-gvisor.toml': `${fixture('runsc-handlers.toml')}`.replace(/runsc\]/g, 'gvisor]').replace(/runsc\.options\]/g, 'gvisor.options]'),
      'etc/containerd/runsc.toml': 'binary_name = "/opt/gvisor/runsc"\n[runsc_config]\n  nvproxy = true\n  nvproxy-driver-version = "580.126.20"\n',
      'opt/gvisor/runsc': RUNSC,
    }),
  )
  t.match(view.runscs, [{ name: 'gvisor', binary: '/opt/gvisor/runsc', flags: { nvproxy: 'true', 'nvproxy-driver-version': '580.126.20' } }])
})

t.test('unreadable configuration: one clear finding, no crash', async t => {
  const bad = containerdView(host(t, { 'etc/containerd/config.toml': 'version = 3\n[plugins\n' }))
  t.equal(bad.problems.length, 1)
  t.match(bad.problems[0], { check: 'config', status: 'fail', summary: /^containerd configuration \/etc\/containerd\/config\.toml is not valid TOML \(.* at line 2\): containerd refuses to start with it/, fix: 'fix or remove /etc/containerd/config.toml' })
  const shim = containerdView(host(t, { 'etc/containerd/config.toml': fixture('config-v2.toml'), 'etc/containerd/runsc.toml': 'binary_name = \n' }))
  t.match(shim.problems, [{ summary: /^runsc shim configuration \/etc\/containerd\/runsc\.toml is not valid TOML/ }])
  t.match(shim.runscs, [{ wanted: 'runsc' }], 'the handler is still there, with the default binary')
  t.same(containerdView(host(t, {})), { engine: 'containerd', present: false, extensionStages: [], runscs: [], problems: [] }, 'no containerd')
})

t.test('imports by path, missing and broken; handlers without options or runsc_config', async t => {
  const view = containerdView(
    host(t, {
      'etc/containerd/config.toml': "version = 3\nimports = ['/etc/containerd/gvisor.toml', '/etc/containerd/gone.toml', '/etc/containerd/bad.toml', 7]\n",
      'etc/containerd/gvisor.toml': "[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.plain]\n  runtime_type = 'io.containerd.runsc.v1'\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.odd]\n  runtime_type = 'io.containerd.runsc.v1'\n  options = { ConfigPath = 3 }\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.bare]\n  runtime_type = 'io.containerd.runsc.v1'\n  options = { ConfigPath = '/etc/containerd/bare.toml' }\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.notatable]\n",
      'etc/containerd/bad.toml': '[x\n',
      'etc/containerd/bare.toml': 'binary_name = ""\n',
    }),
  )
  t.match(view.problems, [{ summary: /^containerd configuration \/etc\/containerd\/bad\.toml is not valid TOML/ }])
  t.same(view.runscs.map(r => [r.name, r.wanted, r.flags, r.flagsFile]), [
    ['plain', 'runsc', {}, undefined],
    ['odd', 'runsc', {}, undefined],
    ['bare', 'runsc', {}, '/etc/containerd/bare.toml'],
  ])
  t.match(containerdView(host(t, { 'etc/containerd/config.toml': "version = 3\n[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes]\n  x = 1\n" })).runscs, [], 'a handler that is not a table')
  t.match(containerdView(host(t, { 'etc/containerd/config.toml/x': '' })).problems, [{ summary: /^cannot read containerd configuration \/etc\/containerd\/config\.toml: EISDIR: containerd refuses to start with it/ }], 'a directory where the file is')
})
