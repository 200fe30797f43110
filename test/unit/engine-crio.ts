import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { crioView } from '../../src/engine-crio'
import { makeHost, type HostLayout } from '../harness/host-tree'

// crio.conf as `crio config` writes it, and a drop-in adding gVisor (fixtures/engines/cri-o).
const FIXTURES = join(__dirname, '../fixtures/engines/cri-o')
const CONF = readFileSync(join(FIXTURES, 'crio.conf'), 'utf8')
const DROP_IN = readFileSync(join(FIXTURES, '10-runsc.conf'), 'utf8')
const RUNSC = '#!/bin/sh\nexit 0\n'
const view = (t: Test, layout: HostLayout) => crioView({ root: makeHost(t, layout) })

t.test('crio.conf and a drop-in: hooks_dir, no extension stages, the runsc runtime', async t => {
  const v = view(t, { 'etc/crio/crio.conf': CONF, 'etc/crio/crio.conf.d/10-runsc.conf': DROP_IN, 'usr/local/bin/runsc': RUNSC })
  t.same(v.hooksDirs, ['/usr/share/containers/oci/hooks.d'])
  t.same(v.extensionStages, [], 'CRI-O loads hooks.d with no extension stages: precreate is unknown to it')
  t.same(v.runscs, [{ engine: 'CRI-O', name: 'runsc', wanted: '/usr/local/bin/runsc', flags: {}, configured: true, binary: '/usr/local/bin/runsc', source: '/etc/crio/crio.conf.d/10-runsc.conf' }])
})

t.test('drop-ins override in name order, table by table; defaults; a runtime by name on PATH', async t => {
  const v = view(t, {
    'etc/crio/crio.conf': CONF,
    'etc/crio/crio.conf.d/20-hooks.conf': '[crio.runtime]\nhooks_dir = ["/etc/containers/oci/hooks.d"]\n',
    'etc/crio/crio.conf.d/30-gvisor.conf': '[crio.runtime.runtimes.runsc]\nruntime_type = "oci"\n',
    'usr/bin/runsc': RUNSC,
  })
  t.same(v.hooksDirs, ['/etc/containers/oci/hooks.d'])
  t.match(v.runscs, [{ name: 'runsc', wanted: 'runsc', binary: '/usr/bin/runsc' }])
  const bare = view(t, { 'usr/bin/crio': '#!/bin/sh\n' })
  t.same([bare.present, bare.hooksDirs, bare.runscs], [true, ['/usr/share/containers/oci/hooks.d'], []], "CRI-O without a configuration: its built-in hooks_dir")
  t.same(view(t, {}).present, false)
})

t.test('a broken drop-in: a finding naming it', async t => {
  const v = view(t, { 'etc/crio/crio.conf': CONF, 'etc/crio/crio.conf.d/10-runsc.conf': '[crio.runtime.runtimes.runsc\n' })
  t.match(v.problems, [{ summary: /^CRI-O configuration \/etc\/crio\/crio\.conf\.d\/10-runsc\.conf is not valid TOML .*: CRI-O refuses to start with it/, fix: 'fix or remove /etc/crio/crio.conf.d/10-runsc.conf' }])
})

t.test('runtimes that are not runsc, not tables, or not there', async t => {
  const v = view(t, {
    'etc/crio/crio.conf': CONF,
    'etc/crio/crio.conf.d/20.conf': '[crio.runtime.runtimes]\nodd = "x"\n[crio.runtime.runtimes.gvisor]\nruntime_path = "/opt/gvisor/runsc"\n',
  })
  t.same(v.runscs.map(r => [r.name, r.wanted, r.binary]), [['gvisor', '/opt/gvisor/runsc', undefined]])
})
