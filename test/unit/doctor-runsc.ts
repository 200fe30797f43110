import t, { type Test } from 'tap'
import { existsSync } from 'node:fs'
import { gpuPodsVerdict, pathRunsc, runscFacts, runscFinding, type RunscFacts } from '../../src/doctor-runsc'
import { readSpecs } from '../../src/doctor-cdi'
import { makeHost } from '../harness/host-tree'
import { runscStandIn } from '../harness/runsc-stand-in'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { RunscUse } from '../../src/engine'
import { findRunsc, type Runsc } from '../harness/real-tools'

// gVisor's real runsc, both releases (test/harness/real-tools.ts): what each
// says about itself, and the verdict for GPU pods under it with a driver
// that its nvproxy lists and one that it does not (read from the binaries).
const host = { root: '/' }
const found = [findRunsc('20260520'), findRunsc('20260822')]
const missing = found.filter((f): f is string => typeof f === 'string')
if (missing.length) t.test("gVisor's real runsc", { skip: missing.join('; ') }, async () => {})
else suite(found as [Runsc, Runsc])

function suite([old, current]: [Runsc, Runsc]) {
  const oldFacts = runscFacts(host, old.runsc)
  const currentFacts = runscFacts(host, current.runsc)
  const list = (f: RunscFacts) => ('list' in f.drivers ? f.drivers.list : [])
  /** Listed by 20260822's nvproxy, not by 20260520's (610.57.04 with these builds). */
  const unsupported = list(currentFacts).find(d => !list(oldFacts).includes(d)) as string
  /** Listed by both. */
  const supported = list(oldFacts).find(d => list(currentFacts).includes(d)) as string

  const use = (binary: string, flags: Record<string, string> = {}): RunscUse => ({
    engine: 'containerd',
    name: 'runsc',
    wanted: binary,
    binary,
    flags,
    configured: true,
    source: '/etc/containerd/config.toml',
    flagsFile: '/etc/containerd/runsc.toml',
  })
  const verdict = (facts: RunscFacts, driver: string | undefined, flags: Record<string, string> = {}) =>
    gpuPodsVerdict(host, use(facts.binary, flags), facts, { driver, driverLoaded: driver !== undefined, specs: [], binary: '/usr/bin/nvidia-procfs-hook' })

  t.test('each release read from its own code, not its version string', async t => {
    t.match(oldFacts, { version: { line: /^runsc version go-266ba6c8-release-20260511\.0-/ }, hooks: 'runs', hooksFrom: 'binary' }, "a go-branch build names the tag before it; its code runs CDI hooks (release-20260520.0's)")
    t.match(currentFacts, { hooks: 'runs-but-nvidia-cdi-hook', hooksFrom: 'binary' })
    t.ok(unsupported && supported, `a driver both list (${supported}) and one only 20260822 lists (${unsupported})`)
    t.ok(oldFacts.flagNames?.has('nvproxy-driver-version') && !oldFacts.flagNames.has('nvproxy-allow-unsupported-driver'), '20260520 has no --nvproxy-allow-unsupported-driver')
    t.ok(currentFacts.flagNames?.has('nvproxy-allow-unsupported-driver'))
    if (existsSync('/usr/bin/runsc')) {
      t.match(runscFacts(host, '/usr/bin/runsc'), { hooks: 'skips', drivers: { why: /^exit / } }, "Debian 12's runsc: no hook runner, no nvproxy list")
    }
  })

  t.test('the loaded driver against each nvproxy, and the engine flags that pin or allow one', async t => {
    t.match(verdict(oldFacts, supported), { status: 'ok', summary: new RegExp(`GPU pods start: nvproxy supports driver ${supported.replace(/\./g, '\\.')}$`) })
    t.match(verdict(oldFacts, unsupported), {
      status: 'fail',
      summary: `containerd runsc (${old.runsc}): GPU pods fail: nvproxy does not support driver ${unsupported} (this runsc lists ${list(oldFacts)[0]} … ${list(oldFacts).at(-1)}): GPU sandboxes fail to start`,
      fix: `install a runsc release whose \`runsc nvproxy list-supported-drivers\` lists ${unsupported}, or a driver this one lists (${list(oldFacts).at(-1)})`,
      data: { start: false, driver: unsupported },
    })
    t.match(verdict(currentFacts, unsupported), { status: 'ok', data: { start: true } }, '20260822 supports it')
    t.match(verdict(oldFacts, unsupported, { 'nvproxy-driver-version': supported }), { status: 'ok', summary: new RegExp(`nvproxy pinned to driver ABI ${supported.replace(/\./g, '\\.')} \\(nvproxy-driver-version in /etc/containerd/runsc\\.toml\\)`) })
    t.match(verdict(oldFacts, unsupported, { 'nvproxy-driver-version': '1.2.3' }), { status: 'fail', summary: /nvproxy-driver-version = 1\.2\.3 in \/etc\/containerd\/runsc\.toml is not a version this runsc supports/ })
    t.match(verdict(oldFacts, unsupported, { 'nvproxy-allow-unsupported-driver': 'true' }), {
      status: 'fail',
      summary: /\/etc\/containerd\/runsc\.toml passes --nvproxy-allow-unsupported-driver, which this runsc does not know: it refuses every container/,
      fix: /^remove nvproxy-allow-unsupported-driver from \[runsc_config\] in \/etc\/containerd\/runsc\.toml; install a runsc release/,
    }, 'a flag 20260520 does not have')
    t.match(verdict(currentFacts, '999.1.1', { 'nvproxy-allow-unsupported-driver': 'true' }), { status: 'warn', summary: /driver 999\.1\.1 is not in this runsc's nvproxy list .*nvproxy-allow-unsupported-driver in \/etc\/containerd\/runsc\.toml lets it try/ })
    t.match(verdict(currentFacts, undefined), { status: 'fail', summary: /GPU pods fail: no NVIDIA driver loaded$/, fix: 'modprobe nvidia   # or install the NVIDIA driver' })
  })

  t.test('a configured runsc that is not there; one only found, not configured', async t => {
    t.match(gpuPodsVerdict(host, { ...use('/opt/none/runsc'), binary: undefined } as unknown as RunscUse, undefined, { driver: supported, driverLoaded: true, specs: [], binary: '/usr/bin/nvidia-procfs-hook' }), {
      status: 'fail',
      summary: 'containerd runsc: runsc /opt/none/runsc not found: every container under it fails',
      fix: 'install runsc at /opt/none/runsc, or point /etc/containerd/config.toml at one',
    })
    t.match(gpuPodsVerdict(host, { ...use(old.runsc), configured: false, engine: 'PATH' }, oldFacts, { driver: unsupported, driverLoaded: true, specs: [], binary: '/usr/bin/nvidia-procfs-hook' }), {
      status: 'warn',
      summary: /^PATH runsc \(.*, not configured as a runtime\): GPU pods fail: /,
      data: { start: false, configured: false },
    })
  })
}

// The same judgements on stand-ins (test/harness/runsc-stand-in.ts), for what
// the real releases do not show: a runsc without nvproxy, one that lists no
// driver, one whose --version fails, one on PATH only, and the self-test's result.
const standIn = (t: Test, version: string, opts: Parameters<typeof runscStandIn>[1] = {}) => {
  const root = makeHost(t, { 'usr/local/bin/runsc': runscStandIn(version, opts) })
  return { host: { root }, facts: runscFacts({ root }, '/usr/local/bin/runsc') }
}
const ctx = (driver: string | undefined) => ({ driver, driverLoaded: driver !== undefined, specs: [], binary: '/usr/bin/nvidia-procfs-hook' })
const pathUse = (binary: string): RunscUse => ({ engine: 'PATH', name: 'runsc', wanted: 'runsc', binary, flags: {}, configured: false })

t.test('stand-ins: no nvproxy, an empty driver list, a --version that fails', async t => {
  const none = standIn(t, '0.0~20221219.0', { flags: ['platform'] })
  t.match(none.facts, { hooks: 'skips', drivers: { why: /^exit 128: Usage: runsc/ } })
  t.match(runscFinding(none.facts), { status: 'ok', summary: /skips CDI createContainer hooks .*; no nvproxy \(no GPU support\)$/ })
  t.match(gpuPodsVerdict(none.host, { ...pathUse(none.facts.binary), configured: true }, none.facts, ctx('580.126.20')), {
    status: 'fail',
    summary: /GPU pods fail: this runsc has no nvproxy \(no GPU support at all\)$/,
    fix: 'install a gVisor runsc release with nvproxy (20260520 or later runs CDI hooks)',
  })
  const empty = standIn(t, 'release-20260520.0', { drivers: [] })
  t.match(empty.facts, { drivers: { why: 'it lists no driver version' } })
  t.match(runscFinding(empty.facts).summary, /the nvidia-ctk form still needs|this hook runs first$/, 'nothing said of nvproxy it cannot list')
  t.match(gpuPodsVerdict(empty.host, pathUse(empty.facts.binary), empty.facts, ctx('580.126.20')), { status: 'warn', summary: /runsc nvproxy list-supported-drivers failed \(it lists no driver version\): cannot tell whether nvproxy supports driver 580\.126\.20/ })
  t.match(gpuPodsVerdict(empty.host, pathUse(empty.facts.binary), empty.facts, { ...ctx(undefined), driverLoaded: true }), { status: 'warn', summary: /the loaded driver names no version in \/proc\/driver\/nvidia\/version/ })
  const mute = standIn(t, 'release-20260601.0', { noVersion: true })
  t.match(runscFinding(mute.facts), {
    status: 'warn',
    summary: "/usr/local/bin/runsc --version failed: exit 2: flag provided but not defined: -version; its code runs CDI createContainer hooks in the gofer and skips NVIDIA's when its path ends in /nvidia-cdi-hook; the nvidia-ctk form still needs this hook first",
  })
})

t.test('a runsc on PATH that no engine names is judged too, as a warning', async t => {
  const { host, facts } = standIn(t, 'release-20260520.0')
  t.same(pathRunsc(host, []), [pathUse('/usr/local/bin/runsc')])
  t.same(pathRunsc(host, [{ ...pathUse('/usr/local/bin/runsc'), engine: 'podman' }]), [], 'already an engine\'s')
  t.same(pathRunsc({ root: makeHost(t, {}) }, []), [])
  t.match(gpuPodsVerdict(host, pathUse(facts.binary), facts, ctx('1.2.3')), { status: 'warn', summary: /^PATH runsc \(\/usr\/local\/bin\/runsc, not configured as a runtime\): GPU pods fail: nvproxy does not support driver 1\.2\.3/ })
})

t.test('fixes name what the engine configured', async t => {
  const missing = (u: Partial<RunscUse>) => gpuPodsVerdict({ root: '/' }, { engine: 'containerd', name: 'gvisor', wanted: 'runsc', flags: {}, configured: true, ...u }, undefined, ctx('580.126.20')).fix
  t.equal(missing({}), "install runsc on containerd's PATH (/usr/local/bin/runsc)")
  t.equal(missing({ source: '/etc/containerd/config.toml' }), "install runsc on containerd's PATH (/usr/local/bin/runsc), or set binary_name in /etc/containerd/config.toml")
  t.equal(missing({ wanted: '/opt/x/runsc' }), 'install runsc at /opt/x/runsc')
  t.equal(missing({ wanted: '/opt/x/runsc or /opt/y/runsc', source: '/etc/containers/containers.conf' }), 'install runsc at /opt/x/runsc, or point /etc/containers/containers.conf at one')
  t.equal(missing({ source: '/etc/containerd/config.toml', flagsFile: '/etc/containerd/runsc.toml' }), "install runsc on containerd's PATH (/usr/local/bin/runsc), or set binary_name in /etc/containerd/runsc.toml")
  t.equal(gpuPodsVerdict({ root: '/' }, { ...pathUse('/none/runsc'), binary: undefined } as unknown as RunscUse, undefined, ctx('580.126.20')).status, 'warn', 'not configured: a warning')
  const { host, facts } = standIn(t, 'release-20260520.0')
  const podman = gpuPodsVerdict(host, { engine: 'podman', name: 'runsc', wanted: '/usr/local/bin/runsc', binary: facts.binary, flags: { 'nvproxy-allow-unsupported-driver': 'true' }, configured: true, flagsFile: '/etc/containers/containers.conf.d/gpu.conf' }, facts, ctx('580.126.20'))
  t.match(podman, { status: 'fail', fix: 'remove nvproxy-allow-unsupported-driver from [engine.runtimes_flags] in /etc/containers/containers.conf.d/gpu.conf' })
  const noFile = gpuPodsVerdict(host, { ...pathUse(facts.binary), flags: { bogus: '1' }, configured: true }, facts, ctx('580.126.20'))
  t.match(noFile, { summary: /its configuration passes --bogus, which this runsc does not know/ })
})

t.test('stand-in: the engine flags that pin or allow a driver', async t => {
  // The same judgements as the real releases' test above, for a newcomer's run without them.
  const { host, facts } = standIn(t, 'release-20260822.0', { flags: ['nvproxy', 'nvproxy-driver-version', 'nvproxy-allow-unsupported-driver'] })
  const judge = (flags: Record<string, string>, driver: string) =>
    gpuPodsVerdict(host, { engine: 'containerd', name: 'runsc', wanted: facts.binary, binary: facts.binary, flags, configured: true, flagsFile: '/etc/containerd/runsc.toml' }, facts, ctx(driver))
  t.match(judge({ 'nvproxy-driver-version': '580.126.20' }, '610.57.04'), { status: 'ok', summary: /nvproxy pinned to driver ABI 580\.126\.20 \(nvproxy-driver-version in \/etc\/containerd\/runsc\.toml\) for driver 610\.57\.04/ })
  t.match(judge({ 'nvproxy-driver-version': '999.1' }, '610.57.04'), {
    status: 'fail',
    summary: /nvproxy-driver-version = 999\.1 in \/etc\/containerd\/runsc\.toml is not a version this runsc supports/,
    fix: /^set nvproxy-driver-version to one of `.*\/usr\/local\/bin\/runsc nvproxy list-supported-drivers` in \/etc\/containerd\/runsc\.toml, or remove it$/,
  })
  t.match(judge({ 'nvproxy-allow-unsupported-driver': 'true' }, '610.57.04'), { status: 'warn', summary: /driver 610\.57\.04 is not in this runsc's nvproxy list \(newest 590\.48\.01\); nvproxy-allow-unsupported-driver in \/etc\/containerd\/runsc\.toml lets it try/ })
})

t.test('each spec against the runsc: sockets; and what the self-test found outweighs the binary', async t => {
  const root = makeHost(t, {
    'usr/local/bin/runsc': runscStandIn('release-20260601.0'),
    'var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json': readFileSync(join(__dirname, '../fixtures/cdi-corpus/k8s-device-plugin-compact.json'), 'utf8'),
    'etc/cdi/cdi-hook.yaml': readFileSync(join(__dirname, '../fixtures/cdi/nvidia-cdi-hook.yaml'), 'utf8'),
  })
  const host = { root }
  const facts = runscFacts(host, '/usr/local/bin/runsc')
  const specs = readSpecs(host)
  const use = { ...pathUse(facts.binary), configured: true }
  const v = gpuPodsVerdict(host, use, facts, { ...ctx('580.126.20'), specs })
  const plugin = '/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json'
  t.match(v, {
    status: 'fail',
    summary: `PATH runsc (/usr/local/bin/runsc): GPU pods fail: ${plugin} needs nvidia-procfs-hook in front of NVIDIA's disable-device-node-modification (the gofer fails with params ENOENT; the user sees "EOF"); ${plugin} mounts /run/nvidia-persistenced/socket, which the gofer cannot serve`,
    fix: `nvidia-procfs-hook cdi patch ${plugin}; set CDI_FEATURE_FLAGS=disable-ipc-discoverer in the NVIDIA device plugin's environment and restart it (it rewrites ${plugin}), then nvidia-procfs-hook cdi patch ${plugin}`,
    data: { hooks: 'runs-but-nvidia-cdi-hook', specs: { '/etc/cdi/cdi-hook.yaml': 'not needed', [plugin]: 'needed' }, selfTest: null },
  })
  const probed = gpuPodsVerdict(host, use, facts, { ...ctx('580.126.20'), specs: specs.filter(s => s.file === '/etc/cdi/cdi-hook.yaml'), probe: { pass: true, said: 'ran', hooks: 'runs' } })
  t.match(probed, { status: 'fail', summary: /\/etc\/cdi\/cdi-hook\.yaml needs nvidia-procfs-hook/, data: { hooks: 'runs', selfTest: { pass: true, said: 'ran' } } }, 'the sandbox ran the nvidia-cdi-hook form: this build does not skip it')
  t.match(gpuPodsVerdict(host, use, facts, { ...ctx('580.126.20'), probe: { pass: true, said: 'ran' } }), { status: 'ok', summary: /; hook-phase self-test passed \(ran\)$/ })
  t.match(gpuPodsVerdict(host, use, facts, { ...ctx('580.126.20'), probe: { pass: false, said: 'error executing CreateContainer hooks: …' } }), {
    status: 'fail',
    summary: /GPU pods fail: hook-phase self-test failed: error executing CreateContainer hooks: …$/,
    fix: "nvidia-procfs-hook doctor --json   # gpu-pods data.selfTest.said holds the gofer's own error; report it with the output",
    data: { selfTest: { pass: false } },
  })
})
