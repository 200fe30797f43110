// The .deb under a real systemd: a Debian 12 root booted with systemd as
// PID 1 of its own namespaces (test/harness/systemd-root.ts), the package
// installed there with dpkg as on a host. postinst enables and starts the
// watcher, which runs with its hardening in effect (as its own
// /proc/PID/status and mountinfo show it); a unit shaped like NVIDIA's
// nvidia-cdi-refresh.service (toolkit >= 1.18: a oneshot that writes
// /var/run/cdi/nvidia.yaml) started with systemctl has, when systemctl
// returns, a spec that already holds our entry (the package's drop-in);
// the watcher killed with SIGKILL is restarted by systemd; a spec rewritten
// is patched again; `dpkg -r` stops and disables the watcher and reverts the
// specs before the binary goes; `dpkg -P` leaves nothing. Then the root is
// powered off and no process of it is left.
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
// The root's first build (~30 s), the package (~10 s), the boot and dpkg's runs.
t.setTimeout(600_000)
enterPrivateMountNamespace()

import { spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { version } from '../../package.json'
import { parseMountinfo, type MountEntry } from '../../src/mountinfo'
import { ourCdiHook } from '../../src/registration'
import { bootSystemdRoot, type BootedRoot } from '../harness/systemd-root'
import { DEB_ARCH } from '../harness/target'

const NAME = 'nvidia-procfs-hook'
const WATCH = `${NAME}-cdi-watch.service`
const REFRESH = 'nvidia-cdi-refresh.service'
const NVIDIA_SPEC = readFileSync('test/fixtures/cdi-corpus/nvidia-ctk-yamlv3-4space.yaml', 'utf8')
const PLUGIN_SPEC = readFileSync('test/fixtures/cdi/k8s-device-plugin.json', 'utf8')

const work = mkdtempSync(join(tmpdir(), 'nph-systemd-deb-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))

// The package for this machine, as `npm run package` builds it (without
// tap's NODE_OPTIONS: build code is not what the suite's coverage is about).
const built = spawnSync('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, 'build/deb.mjs', '--arch', process.arch, work], { encoding: 'utf8' })
const DEB = join(work, `${NAME}_${version}_${DEB_ARCH[process.arch]}.deb`)

/**
 * Shaped like NVIDIA's nvidia-cdi-refresh.service (nvidia.md "Specs as
 * NVIDIA's tools write them today"): a oneshot with the output path in its
 * environment and an optional environment file, NVIDIA's capability bounding
 * set, Restart=on-failure; instead of `nvidia-ctk cdi generate` (which needs
 * a driver) it writes a spec as that writes it, through a rename.
 */
const REFRESH_UNIT = `[Unit]
Description=Refresh NVIDIA CDI specification file (test stand-in for nvidia-container-toolkit-base's)

[Service]
Type=oneshot
Environment=NVIDIA_CTK_CDI_OUTPUT_FILE_PATH=/var/run/cdi/nvidia.yaml
EnvironmentFile=-/etc/nvidia-container-toolkit/nvidia-cdi-refresh.env
ExecStart=/bin/sh -c 'mkdir -p "$\${NVIDIA_CTK_CDI_OUTPUT_FILE_PATH%%/*}" && cp /usr/local/share/nph-test/nvidia.yaml "$NVIDIA_CTK_CDI_OUTPUT_FILE_PATH.tmp" && mv "$NVIDIA_CTK_CDI_OUTPUT_FILE_PATH.tmp" "$NVIDIA_CTK_CDI_OUTPUT_FILE_PATH"'
CapabilityBoundingSet=CAP_SYS_MODULE CAP_SYS_ADMIN CAP_MKNOD
Restart=on-failure
`

let booted: BootedRoot | undefined
const sys = new Proxy({} as BootedRoot, {
  get: (_, key: keyof BootedRoot) => {
    if (!booted) throw new Error('the systemd root did not boot (see the first test)')
    return booted[key]
  },
})
t.teardown(() => booted?.powerOff())
const run = (...args: string[]) => sys.run(args)
const show = (unit: string, prop: string) => run('systemctl', 'show', '-p', prop, '--value', unit).stdout.trim()
const sleep = (ms: number) => new Promise(res => setTimeout(res, ms))
/** Polls `check` every 100 ms, at most 600 times; returns its last answer. */
const waitFor = async (check: () => boolean) => {
  for (let i = 0; i < 600; i++) {
    if (check()) return true
    await sleep(100)
  }
  return check()
}
/**
 * The root's files where a package puts or leaves them (/etc, /usr, /var/lib,
 * /opt), but for dpkg's own database and what apt and systemd's timers keep.
 */
const persistentFiles = () =>
  run('find', '/etc', '/usr', '/var/lib', '/opt', '-xdev', '(', '-path', '/var/lib/dpkg', '-o', '-path', '/var/lib/apt', '-o', '-path', '/var/lib/systemd/timers', ')', '-prune', '-o', '-print')
    .stdout.trim()
    .split('\n')
    .sort()
const specHooks = (path: string) => (parse(readFileSync(sys.path(path), 'utf8')) as { containerEdits: { hooks: unknown[] } }).containerEdits.hooks
const nvidiaHooks = (parse(NVIDIA_SPEC) as { containerEdits: { hooks: unknown[] } }).containerEdits.hooks
const pluginHooks = (JSON.parse(PLUGIN_SPEC) as { containerEdits: { hooks: unknown[] } }).containerEdits.hooks
/** Replaces a spec in the booted root as its producers do: a new file renamed over it. */
const writeSpec = (path: string, text: string) => {
  writeFileSync(sys.path(`${path}.new`), text)
  renameSync(sys.path(`${path}.new`), sys.path(path))
}

let before: string[] = []

t.test('a Debian 12 root boots with systemd as PID 1', async t => {
  t.equal(built.status, 0, 'build/deb.mjs', { stderr: built.stderr })
  const root = await bootSystemdRoot()
  booted = root
  t.equal(root.state, 'running', `systemctl is-system-running (failed units: ${run('systemctl', '--failed', '--plain', '--no-legend').stdout.trim() || 'none'})`)
  t.equal(readFileSync(`/proc/${sys.pid}/comm`, 'utf8'), 'systemd\n')
  t.equal(run('cat', '/proc/1/comm').stdout, 'systemd\n', 'PID 1 of its pid namespace')
})

t.test('dpkg -i: postinst enables and starts the watcher', async t => {
  mkdirSync(sys.path('/usr/local/share/nph-test'), { recursive: true })
  writeFileSync(sys.path('/usr/local/share/nph-test/nvidia.yaml'), NVIDIA_SPEC)
  writeFileSync(sys.path(`/usr/lib/systemd/system/${REFRESH}`), REFRESH_UNIT)
  t.equal(run('systemctl', 'daemon-reload').status, 0)
  before = persistentFiles()
  copyFileSync(DEB, sys.path('/root/package.deb'))
  const install = run('dpkg', '-i', '/root/package.deb')
  t.equal(install.status, 0, 'dpkg -i', { stderr: install.stderr })
  t.equal(run('systemctl', 'is-enabled', WATCH).stdout.trim(), 'enabled')
  t.equal(run('systemctl', 'is-active', WATCH).stdout.trim(), 'active')
  t.ok(lstatSync(sys.path(`/etc/systemd/system/multi-user.target.wants/${WATCH}`)).isSymbolicLink(), 'wanted by multi-user.target')
  t.match(show(WATCH, 'ExecMainStartTimestamp'), /\S/, 'started by postinst')
  t.match(run('systemctl', 'cat', REFRESH).stdout, `/usr/lib/systemd/system/${REFRESH}.d/${NAME}.conf`, "NVIDIA's unit has the package's drop-in")
})

t.test("the watcher's hardening is in effect", async t => {
  const pid = show(WATCH, 'MainPID')
  t.not(pid, '0')
  const status = Object.fromEntries(
    run('cat', `/proc/${pid}/status`)
      .stdout.trim()
      .split('\n')
      .map(l => l.split(/:\s*/) as [string, string]),
  )
  t.match(status, { Uid: '0\t0\t0\t0', NoNewPrivs: '1', Seccomp: '2', CapInh: '0000000000000000', CapAmb: '0000000000000000' })
  // CAP_CHOWN (0) and CAP_FOWNER (3): nothing else, in any set.
  t.match(status, { CapBnd: '0000000000000009', CapPrm: '0000000000000009', CapEff: '0000000000000009' })
  t.equal(run('readlink', `/proc/${pid}/ns/net`).stdout === run('readlink', '/proc/1/ns/net').stdout, false, 'a network namespace of its own (PrivateNetwork=)')

  // What it can write: per mount point, the mount on top (the last listed).
  const visible = new Map<string, MountEntry>()
  for (const m of parseMountinfo(run('cat', `/proc/${pid}/mountinfo`).stdout)) visible.set(m.mountPoint, m)
  const writable = [...visible.values()].filter(m => m.options.includes('rw'))
  const specDirs = ['/etc/cdi', '/run/cdi']
  // Its private /tmp and /var/tmp (PrivateTmp=) and the kernel's API
  // filesystems that systemd keeps writable under PrivateDevices=.
  const allowed = (m: MountEntry) =>
    specDirs.includes(m.mountPoint) ||
    (['/tmp', '/var/tmp'].includes(m.mountPoint) && m.root.includes('/systemd-private-')) ||
    ['proc', 'devpts', 'mqueue', 'hugetlbfs'].includes(m.fsType) ||
    m.mountPoint === '/dev/shm'
  t.same(
    writable.filter(m => !allowed(m)).map(m => `${m.mountPoint} (${m.fsType})`),
    [],
    'read-only everywhere but the two spec directories, its private /tmp and the kernel API filesystems',
  )
  t.same(specDirs.filter(d => !writable.some(m => m.mountPoint === d)), [], 'the spec directories writable')
  t.ok(visible.get('/')?.options.includes('ro'), '/ read-only')
  t.equal(run('readlink', '-f', '/var/run/cdi').stdout, '/run/cdi\n', '/var/run/cdi is /run/cdi')
})

t.test("NVIDIA's refresh unit: when systemctl start returns, the spec holds our entry", async t => {
  // The watcher stopped, so that only the drop-in can have patched it.
  t.equal(run('systemctl', 'stop', WATCH).status, 0)
  const started = run('systemctl', 'start', REFRESH)
  t.equal(started.status, 0, 'systemctl start returned', { stderr: started.stderr })
  t.same(specHooks('/run/cdi/nvidia.yaml'), [ourCdiHook(), ...nvidiaHooks], "our entry first, NVIDIA's hooks as written")
  t.match(run('journalctl', '-u', REFRESH, '--no-pager', '-o', 'cat').stdout, 'patched /var/run/cdi/nvidia.yaml', 'ExecStartPost patched the path in the unit')
  t.equal(show(REFRESH, 'Result'), 'success')
  t.equal(run('systemctl', 'start', WATCH).status, 0)
  t.equal(run('systemctl', 'is-active', WATCH).stdout.trim(), 'active')
})

t.test('the watcher killed with SIGKILL: systemd restarts it', async t => {
  const pid = show(WATCH, 'MainPID')
  const restarts = Number(show(WATCH, 'NRestarts'))
  t.equal(run('/bin/sh', '-c', 'kill -KILL "$1"', 'sh', pid).status, 0)
  t.ok(await waitFor(() => !['0', pid].includes(show(WATCH, 'MainPID')) && show(WATCH, 'ActiveState') === 'active'), 'running again, a new process')
  t.equal(Number(show(WATCH, 'NRestarts')), restarts + 1, 'restarted once (Restart=on-failure)')
  t.match(run('journalctl', '-u', WATCH, '--no-pager', '-o', 'cat').stdout, /Main process exited, code=killed, status=9\/KILL/)
})

t.test('a spec rewritten, and one new, are patched', async t => {
  writeSpec('/run/cdi/nvidia.yaml', NVIDIA_SPEC)
  writeSpec('/run/cdi/k8s.device-plugin.nvidia.com-gpu.json', PLUGIN_SPEC)
  const patched = (path: string, hooks: unknown[]) => () => JSON.stringify(specHooks(path)) === JSON.stringify([ourCdiHook(), ...hooks])
  t.ok(await waitFor(patched('/run/cdi/nvidia.yaml', nvidiaHooks)), "nvidia.yaml: our entry in front of NVIDIA's again")
  t.ok(await waitFor(patched('/run/cdi/k8s.device-plugin.nvidia.com-gpu.json', pluginHooks)), "the device plugin's spec: our entry in front")
})

t.test('dpkg -r: the watcher stopped and disabled, the specs reverted, the binary gone', async t => {
  const removed = run('dpkg', '-r', NAME)
  t.equal(removed.status, 0, 'dpkg -r', { stderr: removed.stderr })
  t.equal(run('systemctl', 'is-active', WATCH).stdout.trim(), 'inactive')
  t.equal(existsSync(sys.path(`/etc/systemd/system/multi-user.target.wants/${WATCH}`)), false, 'no longer wanted by multi-user.target')
  t.equal(readFileSync(sys.path('/run/cdi/nvidia.yaml'), 'utf8'), NVIDIA_SPEC, 'nvidia.yaml as NVIDIA wrote it, byte for byte')
  t.equal(readFileSync(sys.path('/run/cdi/k8s.device-plugin.nvidia.com-gpu.json'), 'utf8'), PLUGIN_SPEC, "the device plugin's spec as it wrote it")
  t.match(removed.stdout + removed.stderr, /reverted \/var\/run\/cdi\/nvidia\.yaml/, 'prerm reverted them with the binary still there')
  t.equal(existsSync(sys.path(`/usr/bin/${NAME}`)), false, 'the binary removed')
  t.same(
    sys.processes().filter(p => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(NAME)),
    [],
    'no process of ours left running',
  )
  t.equal(run('dpkg-query', '-W', '-f=${Status}', NAME).stdout, 'deinstall ok config-files')
  // NVIDIA's refresh after the removal: the drop-in went with the package.
  t.equal(run('systemctl', 'start', REFRESH).status, 0, "NVIDIA's unit still runs")
  t.equal(readFileSync(sys.path('/run/cdi/nvidia.yaml'), 'utf8'), NVIDIA_SPEC, 'and writes its spec unpatched')
})

t.test('dpkg -P leaves nothing', async t => {
  const purged = run('dpkg', '-P', NAME)
  t.equal(purged.status, 0, 'dpkg -P', { stderr: purged.stderr })
  t.not(run('dpkg-query', '-W', NAME).status, 0, 'dpkg knows no such package')
  t.equal(run('systemctl', 'is-enabled', WATCH).status === 0, false, 'systemd knows no such unit')
  const after = persistentFiles()
  // systemd made /etc/cdi for the watcher (ConfigurationDirectory=cdi), empty
  // now: CDI's own directory, which the engines read.
  t.same(
    after.filter(f => !before.includes(f)),
    ['/etc/cdi'],
    'no file, directory or unit link added but /etc/cdi',
  )
  t.same(readdirSync(sys.path('/etc/cdi')), [], '/etc/cdi empty')
  t.same(before.filter(f => !after.includes(f)), [], 'nothing of the root removed')
  t.same(run('find', '/run', '/var/lib', '-name', `*${NAME}*`).stdout, '', 'nothing named after us in /run or /var/lib (dpkg and deb-systemd-helper state)')
})

t.test('powered off, no process of the root is left', async t => {
  t.ok(sys.processes().includes(sys.pid), 'PID 1 up until now')
  // reboot(2): a pid namespace's init that powers off ends with SIGINT
  // (unshare -f passes it on); SIGKILL would mean powerOff had to kill it.
  t.ok(['SIGINT', '130'].includes(await sys.powerOff()), 'PID 1 powered off')
  t.same(sys.processes(), [], 'the pid namespace is empty')
})
