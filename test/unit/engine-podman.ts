import t, { type Test } from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { podmanView } from '../../src/engine-podman'
import { CONTAINERS_CONF_D, PODMAN_HOOKS_DIR } from '../../src/host-layout'
import { makeHost, type HostLayout } from '../harness/host-tree'

// podman 5.8's containers.conf as Debian sid ships it (containers-common 0.67.1: every
// setting commented out), in /usr/share; the operator's in /etc and the drop-in directory.
const SHIPPED = readFileSync(join(__dirname, '../fixtures/engines/podman-5.8/containers.conf'), 'utf8')
const RUNSC = '#!/bin/sh\nexit 0\n'
const PODMAN = { 'usr/bin/podman': '#!/bin/sh\nexit 0\n', 'usr/share/containers/containers.conf': SHIPPED }
const view = (t: Test, layout: HostLayout) => podmanView({ root: makeHost(t, layout) })
const dropIn = (name: string) => `${CONTAINERS_CONF_D.slice(1)}/${name}`

t.test('as shipped: /usr/share hooks.d only; runsc from the built-in list, not configured', async t => {
  const v = view(t, { ...PODMAN, 'usr/sbin/runsc': RUNSC })
  t.same(v.hooksDirs, ['/usr/share/containers/oci/hooks.d'])
  t.same(v.extensionStages, ['precreate'])
  t.same(v.problems, [])
  t.same(v.runscs, [{ engine: 'podman', name: 'runsc', wanted: '/usr/bin/runsc or /usr/sbin/runsc or /usr/local/bin/runsc or /usr/local/sbin/runsc or /bin/runsc or /sbin/runsc or /run/current-system/sw/bin/runsc', flags: {}, configured: false, binary: '/usr/sbin/runsc' }])
  t.same(view(t, PODMAN).runscs, [], 'no runsc anywhere: nothing to judge')
  t.same(view(t, {}), { engine: 'podman', present: false, extensionStages: ['precreate'], runscs: [], problems: [], hooksDirs: ['/usr/share/containers/oci/hooks.d'] }, 'no podman')
})

t.test('/etc and drop-ins override in order; {append=true} appends; runtimes and runtimes_flags', async t => {
  const v = view(t, {
    ...PODMAN,
    'etc/containers/containers.conf': '[engine]\nhooks_dir = ["/etc/containers/oci/hooks.d"]\nruntime = "gvisor"\n[engine.runtimes]\ngvisor = ["/opt/gvisor/runsc"]\n',
    [dropIn('50-nvidia-procfs-hook.conf')]: `[engine]\nhooks_dir = ["${PODMAN_HOOKS_DIR}", {append=true}]\n`,
    [dropIn('60-flags.conf')]: '[engine.runtimes_flags]\ngvisor = ["nvproxy-driver-version=580.126.20", "--debug"]\n',
    [dropIn('README')]: 'not a drop-in',
    'opt/gvisor/runsc': RUNSC,
  })
  t.same(v.hooksDirs, ['/etc/containers/oci/hooks.d', PODMAN_HOOKS_DIR])
  t.same(v.runscs, [
    {
      engine: 'podman',
      name: 'gvisor',
      wanted: '/opt/gvisor/runsc',
      flags: { 'nvproxy-driver-version': '580.126.20', debug: 'true' },
      configured: true,
      binary: '/opt/gvisor/runsc',
      source: '/etc/containers/containers.conf',
      flagsFile: `${CONTAINERS_CONF_D}/60-flags.conf`,
    },
  ])
  t.same(view(t, { ...PODMAN, [dropIn('z.conf')]: '[engine]\nhooks_dir = ["/a"]\n', [dropIn('a.conf')]: '[engine]\nhooks_dir = ["/b"]\n' }).hooksDirs, ['/a'], 'drop-ins in name order, the last wins')
})

t.test('a containers.conf podman cannot read: one finding, the rest still read', async t => {
  const v = view(t, { ...PODMAN, 'etc/containers/containers.conf': '[engine\n', [dropIn('x.conf')]: '[engine]\nhooks_dir = ["/x"]\n' })
  t.match(v.problems, [{ check: 'config', status: 'fail', summary: /^containers\.conf \/etc\/containers\/containers\.conf is not valid TOML \(.*\): podman refuses to start with it/, fix: 'fix or remove /etc/containers/containers.conf' }])
  t.same(v.hooksDirs, ['/x'])
})

t.test('files without [engine]; runtimes that are not runsc', async t => {
  const v = view(t, { ...PODMAN, 'etc/containers/containers.conf': '[containers]\nlog_driver = "k8s-file"\n', [dropIn('x.conf')]: '[engine.runtimes]\ncrun = ["/usr/bin/crun"]\ngvisor = ["/opt/gvisor/runsc"]\n' })
  t.same(v.runscs.map(r => [r.name, r.binary, r.configured]), [['gvisor', undefined, true]], 'a configured runsc that is not there is still judged')
})

t.test('a hooks_dir podman cannot decode: a finding, the list left as before it', async t => {
  const v = view(t, { ...PODMAN, [dropIn('a.conf')]: '[engine]\nhooks_dir = ["/a"]\n', [dropIn('b.conf')]: '[engine]\nhooks_dir = "/b"\n' })
  t.match(v.problems, [{ check: 'config', status: 'fail', summary: `${CONTAINERS_CONF_D}/b.conf: [engine] hooks_dir is not an array: podman refuses to start with it, and doctor cannot tell what it runs` }])
  t.same(v.hooksDirs, ['/a'])
})
