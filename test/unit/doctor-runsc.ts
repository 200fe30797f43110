import t from 'tap'
import { existsSync } from 'node:fs'
import { gpuPodsVerdict, runscFacts, type RunscFacts } from '../../src/doctor-runsc'
import type { RunscUse } from '../../src/engine'
import { findRunsc, type Runsc } from '../harness/real-tools'

// gVisor's real runsc, both releases (test/harness/real-tools.ts): what each
// says about itself, and the verdict for GPU pods under it with a driver
// that its nvproxy lists and one that it does not (read from the binaries).
const host = { root: '/' }
const found = [findRunsc('20260520'), findRunsc('20260822')]
const missing = found.filter((f): f is string => typeof f === 'string')
if (missing.length) t.plan(0, `skipped: ${missing.join('; ')}`)
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
