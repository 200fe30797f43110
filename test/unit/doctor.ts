import t, { type Test } from 'tap'
import { chmodSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { version } from '../../package.json'
import { main, processIO } from '../../src/cli'
import { DOCTOR_USAGE, probeBlocked } from '../../src/doctor'
import { VERSION_TIMEOUT_MS, type Finding } from '../../src/doctor-finding'
import { SYSTEMCTL_TIMEOUT_MS } from '../../src/doctor-systemd'
import { REFRESH_UNIT, WATCH_UNIT } from '../../src/host-layout'
import type { HookIO } from '../../src/hook'
import { ourCdiHook } from '../../src/registration'
import { runscHooks } from '../../src/runsc-release'
import { runscStandIn } from '../harness/runsc-stand-in'

const FIXTURES = join(__dirname, '../fixtures/cdi')

/** Realistic `--version` text, as each runtime prints it. */
const RUNC = 'runc version 1.1.5+ds1\ncommit: 1.1.5+ds1-1+deb12u1\nspec: 1.0.2-dev\ngo: go1.19.8\nlibseccomp: 2.5.4\n'
const CRUN = 'crun version 1.8.1\ncommit: f8a096be060b22ccd3d5f3ebe44108517fbf6c30\nrundir: /run/crun\nspec: 1.0.0\n+SYSTEMD +SELINUX +APPARMOR +CAP +SECCOMP +EBPF +YAJL\n'
const MOUNT_VERSION = 'mount from util-linux 2.38.1 (libmount 2.38.1: selinux, smack, btrfs, verity, namespaces, assert, debug)\n'
const DRIVER_VERSION =
  'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.126.20  Release Build  (dvs-builder@U22-I3-AF03-09-1)  Thu Jan  8 06:15:33 UTC 2026\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n'
const PARAMS = (modify: string) => `ResmanDebugLevel: 4294967295\nRmLogonRC: 1\nModifyDeviceFiles: ${modify}\nDeviceFileUID: 0\nRegistryDwords: ""\n`
const HOOKS_FILE = (path = '/usr/bin/nvidia-procfs-hook') =>
  JSON.stringify({ version: '1.0.0', hook: { path, args: ['nvidia-procfs-hook', 'precreate'], env: ['PATH=/usr/bin'] }, when: { always: true }, stages: ['precreate'] })

const script = (body: string) => `#!/bin/sh\n${body}\n`
const printing = (text: string) => script(`cat <<'EOF'\n${text}EOF`)

type Layout = Record<string, string | null>

/** A host that passes every check; tests change or remove (null) paths from it. */
const readyHost = (): Layout => ({
  'proc/driver/nvidia/version': DRIVER_VERSION,
  'proc/driver/nvidia/params': PARAMS('1'),
  'proc/self/status': 'Name:\tnode\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n',
  'usr/bin/mount': printing(MOUNT_VERSION),
  'usr/bin/umount': script('exit 0'),
  'usr/bin/nsenter': script('exit 0'),
  'usr/bin/flock': script('exit 0'),
  'usr/bin/runsc': runscStandIn('release-20260520.0'),
  'usr/sbin/runc': printing(RUNC),
  'usr/bin/podman': printing('podman version 4.3.1\n'),
  'etc/containers/containers.conf': '[engine]\nruntime = "runsc"\n',
  'usr/bin/crun': printing(CRUN),
  'usr/bin/nvidia-procfs-hook': printing(`nvidia-procfs-hook ${version} (node v26.12.1)\n`),
  'etc/cdi/nvidia.yaml': patched('nvidia-ctk.yaml'),
  'usr/share/containers/oci/hooks.d/nvidia-procfs-hook.json': HOOKS_FILE(),
  'usr/share/containers/oci/hooks.d/oci-nvidia-hook.json': JSON.stringify({
    version: '1.0.0',
    hook: { path: '/usr/bin/nvidia-container-runtime-hook', args: ['nvidia-container-runtime-hook', 'prestart'], env: ['PATH=/usr/bin'] },
    when: { always: true, commands: ['.*'] },
    stages: ['prestart'],
  }),
})

/** A fixture spec with our entry inserted (as `cdi patch` would), running `binary`. */
function patched(fixture: string, binary = '/usr/bin/nvidia-procfs-hook') {
  const text = readFileSync(join(FIXTURES, fixture), 'utf8')
  const entry = JSON.stringify(ourCdiHook({ binary }))
  return text.replace(/^(  )- \{hookName: createContainer, path: \/usr\/bin\/nvidia-ctk/m, `$1- ${entry}\n$&`)
}

const makeHost = (t: Test, layout: Layout): string => {
  const root = t.testdir({})
  for (const [path, content] of Object.entries(layout)) {
    if (content === null) continue
    const file = join(root, path)
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, content)
    if (content.startsWith('#!')) chmodSync(file, 0o755)
  }
  return root
}

const run = (argv: string[]) => {
  const out: string[] = []
  const err: string[] = []
  const io: HookIO = { ...processIO(), out: l => out.push(l), err: l => err.push(l) }
  return { code: main(['doctor', ...argv], io), out, err }
}

interface Report {
  ready: boolean
  version: string
  hostRoot: string
  findings: Finding[]
}

const doctorJSON = (root: string) => {
  const res = run(['--json', '--host-root', root])
  if (res.err.length) throw new Error(res.err.join("\n"))
  return { code: res.code, ...(JSON.parse(res.out[0] as string) as Report) }
}

const finding = (r: Report, check: string) => r.findings.filter(f => f.check === check)
/** Findings without their `data` (asserted on its own where it matters). */
const plain = (fs: Finding[]) => fs.map(({ data: _, ...f }) => f)

t.test('usage', async t => {
  t.same(run(['--help']), { code: 0, out: [DOCTOR_USAGE], err: [] })
  t.same(run(['now']), { code: 2, out: [], err: ['nvidia-procfs-hook: error: doctor: unexpected argument "now"'] })
  t.same(run(['--host-root', 'x']), { code: 2, out: [], err: ['nvidia-procfs-hook: error: doctor: --host-root must be an absolute path'] })
  t.same(run(['--host-root', '/nonexistent']), { code: 2, out: [], err: ['nvidia-procfs-hook: error: doctor: --host-root /nonexistent is not a directory'] })
})

t.test('this machine, as it is: a verdict either way', async t => {
  const { code, out } = run([])
  t.match(out.join('\n'), new RegExp(`^nvidia-procfs-hook ${version} doctor\n`))
  t.equal(code, /\nREADY/.test(out.join('\n')) ? 0 : 1)
})

t.test('problems and warnings are counted', async t => {
  const layout = { ...readyHost(), 'proc/driver/nvidia/version': null, 'proc/driver/nvidia/params': null, 'proc/self/status': null, 'usr/bin/runsc': runscStandIn('x') }
  const root = makeHost(t, { ...layout, 'etc/cdi/nvidia.yaml': null })
  // driver and privilege; the verdict for GPU pods under the runsc (no driver); runsc's unknown release, and no specs.
  t.match(run(['--host-root', root]).out.join('\n'), /\nNOT READY: 3 problems, 2 warnings\. Run each fix as root, then doctor again\.$/)
})

t.test('a ready host: exit 0, one screen, every check named', async t => {
  const root = makeHost(t, readyHost())
  const { code, out } = run(['--host-root', root])
  t.equal(code, 0)
  const text = out.join('\n')
  t.match(text, `nvidia-procfs-hook ${version} doctor (host root ${root})`)
  t.match(text, /^ok {4}driver {5}NVIDIA UNIX Open Kernel Module for x86_64 580\.126\.20 Release Build \(dvs-builder@U22-I3-AF03-09-1\) Thu Jan 8 06:15:33 UTC 2026; ModifyDeviceFiles: 1 \(NVIDIA.s disable-device-node-modification hook acts/m)
  t.match(text, /^ok {4}privilege  CAP_SYS_ADMIN: yes/m)
  t.match(text, /^ok {4}util-linux util-linux 2\.38\.1, classic mount\(2\): bind, then remount read-only through a fresh fd \(\/usr\/bin\/mount, \/usr\/bin\/umount, \/usr\/bin\/nsenter, \/usr\/bin\/flock\)$/m)
  t.match(text, /^info  self-test  not run: it mounts on this machine, and --host-root examines another$/m)
  t.match(text, /^ok {4}runsc {6}\/usr\/bin\/runsc: runsc version release-20260520\.0; runs CDI createContainer hooks in the gofer/m)
  t.match(text, /^ok {4}runc {7}\/usr\/sbin\/runc: runc version 1\.1\.5\+ds1; mounts \/proc before createContainer hooks run/m)
  t.match(text, /^ok {4}cdi {8}\/etc\/cdi\/nvidia\.yaml: patched \(\/usr\/bin\/nvidia-procfs-hook\)$/m)
  t.match(text, /^ok {4}gpu-pods {3}podman runsc \(\/usr\/bin\/runsc\): GPU pods start: nvproxy supports driver 580\.126\.20$/m)
  t.match(text, /^ok {4}hooks\.d {4}\/usr\/share\/containers\/oci\/hooks\.d\/nvidia-procfs-hook\.json: precreate -> \/usr\/bin\/nvidia-procfs-hook \(read by podman\)$/m)
  t.match(text, new RegExp(`^ok {4}binary {5}/usr/bin/nvidia-procfs-hook: nvidia-procfs-hook ${version} \\(node v26\\.12\\.1\\)$`, 'm'))
  t.notMatch(text, /fix:/, 'nothing to fix')
  t.match(text, /\nREADY$/)
  t.ok(text.split('\n').length <= 24, 'fits one screen')
  const json = doctorJSON(root)
  t.same({ code: json.code, ready: json.ready, version: json.version, hostRoot: json.hostRoot }, { code: 0, ready: true, version, hostRoot: root })
  t.same(
    json.findings.map(f => f.check),
    ['driver', 'privilege', 'util-linux', 'self-test', 'runsc', 'runc', 'crun', 'gpu-pods', 'cdi', 'systemd', 'hooks.d', 'binary'],
  )
})

t.test('runsc: what its release date says about CDI createContainer hooks', async t => {
  t.equal(runscHooks('runsc version 0.0~20221219.0'), 'skips', 'the Debian 12 build')
  t.equal(runscHooks('runsc version release-20260519.0'), 'skips')
  t.equal(runscHooks('runsc version release-20260520.0'), 'runs')
  t.equal(runscHooks('runsc version release-20260525.0'), 'runs')
  t.equal(runscHooks('runsc version release-20260601.0'), 'runs-but-nvidia-cdi-hook')
  t.equal(runscHooks('runsc version 7b9c1e04c2e3'), 'unknown', 'a source build: a commit, no date')
  t.equal(runscHooks('runsc version release-202605200.0'), 'unknown', 'nine digits are not a date')

  const unpatched = { ...readyHost(), 'etc/cdi/nvidia.yaml': readFileSync(join(FIXTURES, 'nvidia-ctk.yaml'), 'utf8') }
  const broken = doctorJSON(makeHost(t, unpatched))
  t.equal(broken.code, 1, 'runsc 20260520 runs NVIDIA hooks: an unpatched spec is the outage')
  t.same(finding(broken, 'cdi'), [
    {
      check: 'cdi',
      status: 'fail',
      summary: "/etc/cdi/nvidia.yaml: NVIDIA hooks run without nvidia-procfs-hook in front (1 hooks list)",
      fix: 'nvidia-procfs-hook cdi patch /etc/cdi/nvidia.yaml',
    },
  ])
  const text = run(['--host-root', makeHost(t, unpatched)]).out.join('\n')
  t.match(text, /^FAIL  cdi {8}\/etc\/cdi\/nvidia\.yaml: NVIDIA hooks run without nvidia-procfs-hook in front \(1 hooks list\)\n {17}fix: nvidia-procfs-hook cdi patch \/etc\/cdi\/nvidia\.yaml$/m)
  t.match(text, /^FAIL  gpu-pods   podman runsc \(\/usr\/bin\/runsc\): GPU pods fail: \/etc\/cdi\/nvidia\.yaml needs nvidia-procfs-hook in front of NVIDIA's disable-device-node-modification .*\n {17}fix: nvidia-procfs-hook cdi patch \/etc\/cdi\/nvidia\.yaml$/m)
  t.match(text, /NOT READY: 2 problems\. Run each fix as root, then doctor again\.$/)

  const newer = doctorJSON(makeHost(t, { ...unpatched, 'usr/bin/runsc': runscStandIn('release-20260601.0') }))
  t.equal(newer.code, 1, 'the nvidia-ctk form still fails from 20260601')
  t.match(finding(newer, 'runsc')[0]?.summary, /skips NVIDIA's when its path ends in \/nvidia-cdi-hook; the nvidia-ctk form still needs this hook/)

  const debian = doctorJSON(makeHost(t, { ...unpatched, 'usr/bin/runsc': runscStandIn('0.0~20221219.0') }))
  t.equal(debian.code, 0, 'a runsc that skips the hooks: unpatched is only a warning')
  t.match(finding(debian, 'runsc')[0], { status: 'ok', summary: /skips CDI createContainer hooks \(builds before 20260520\)/ })
  t.match(finding(debian, 'cdi')[0], { status: 'warn', summary: /harmless until runsc runs CDI createContainer hooks$/ })
  t.match(run(['--host-root', makeHost(t, { ...unpatched, 'usr/bin/runsc': runscStandIn('0.0~20221219.0') })]).out.join('\n'), /\nREADY \(1 warning\)$/)

  const none = doctorJSON(makeHost(t, { ...unpatched, 'usr/bin/runsc': null, 'etc/containers/containers.conf': null }))
  t.equal(none.code, 0, 'no runsc at all: nothing needs this hook yet')
  t.same(plain(finding(none, 'runsc')), [{ check: 'runsc', status: 'info', summary: 'not found' }])
  const missing = doctorJSON(makeHost(t, { ...unpatched, 'usr/bin/runsc': null }))
  t.equal(missing.code, 1, 'podman told to run runsc, and none there')
  t.same(plain(finding(missing, 'gpu-pods')), [
    {
      check: 'gpu-pods',
      status: 'fail',
      summary: 'podman runsc: runsc /usr/bin/runsc or /usr/sbin/runsc or /usr/local/bin/runsc or /usr/local/sbin/runsc or /bin/runsc or /sbin/runsc or /run/current-system/sw/bin/runsc not found: every container under it fails',
      fix: 'install runsc at /usr/bin/runsc',
    },
  ])

  const head = doctorJSON(makeHost(t, { ...unpatched, 'usr/bin/runsc': runscStandIn('7b9c1e04c2e3') }))
  t.equal(head.code, 1, 'unknown: assume it runs them')
  t.match(finding(head, 'runsc')[0], { status: 'warn', summary: /: runsc version 7b9c1e04c2e3; cannot tell whether it runs CDI createContainer hooks in the gofer .*; assuming it does;/ })
})

t.test('runtimes that do not answer --version', async t => {
  const layout = {
    ...readyHost(),
    'usr/bin/runsc': script('echo "runsc: flag provided but not defined: -version" >&2; exit 2'),
    'usr/sbin/runc': script('exit 0'),
    'usr/bin/crun': script('exec sleep 30'),
  }
  const started = Date.now()
  const r = doctorJSON(makeHost(t, layout))
  t.ok(Date.now() - started < VERSION_TIMEOUT_MS + 2000, 'a hung runtime costs the timeout, no more')
  t.same(plain(finding(r, 'runsc')), [{ check: 'runsc', status: 'warn', summary: '/usr/bin/runsc --version failed: exit 2: runsc: flag provided but not defined: -version' }])
  t.same(finding(r, 'runc'), [{ check: 'runc', status: 'warn', summary: '/usr/sbin/runc --version failed: exit 0' }])
  t.same(finding(r, 'crun'), [{ check: 'crun', status: 'warn', summary: `/usr/bin/crun --version failed: no answer within ${VERSION_TIMEOUT_MS / 1000} s` }])
  const killed = doctorJSON(makeHost(t, { ...readyHost(), 'usr/bin/runsc': script('kill -9 $$') }))
  t.same(plain(finding(killed, 'runsc')), [{ check: 'runsc', status: 'warn', summary: '/usr/bin/runsc --version failed: exit SIGKILL' }])
  const noexec = doctorJSON(makeHost(t, { ...readyHost(), 'usr/bin/runsc': '#!/nonexistent/interpreter\n' }))
  t.same(plain(finding(noexec, 'runsc')), [{ check: 'runsc', status: 'warn', summary: '/usr/bin/runsc --version failed: ENOENT' }])
})

t.test('driver', async t => {
  const none = doctorJSON(makeHost(t, { ...readyHost(), 'proc/driver/nvidia/version': null, 'proc/driver/nvidia/params': null }))
  t.equal(none.code, 1)
  t.same(finding(none, 'driver'), [
    {
      check: 'driver',
      status: 'fail',
      summary: 'no NVIDIA driver loaded (/proc/driver/nvidia does not exist); GPU containers cannot start and this hook has nothing to do',
      fix: 'modprobe nvidia   # or install the NVIDIA driver',
    },
  ])
  const zero = doctorJSON(makeHost(t, { ...readyHost(), 'proc/driver/nvidia/params': PARAMS('0') }))
  t.match(finding(zero, 'driver')[0]?.summary, /; ModifyDeviceFiles: 0 \(NVIDIA's disable-device-node-modification hook does nothing\)$/)
  const unset = doctorJSON(makeHost(t, { ...readyHost(), 'proc/driver/nvidia/params': 'RmLogonRC: 1\n' }))
  t.match(finding(unset, 'driver')[0]?.summary, /; ModifyDeviceFiles: not set$/)
  const missing = doctorJSON(makeHost(t, { ...readyHost(), 'proc/driver/nvidia/version': null, 'proc/driver/nvidia/params': null, 'proc/driver/nvidia/registry': 'Binary: ""\n' }))
  t.same(finding(missing, 'driver'), [
    {
      check: 'driver',
      status: 'ok',
      summary: 'driver version /proc/driver/nvidia/version does not exist; ModifyDeviceFiles: driver params /proc/driver/nvidia/params does not exist',
    },
  ])
})

t.test('privilege and util-linux', async t => {
  const status = (capEff: string) => `Name:\tnode\nCapEff:\t${capEff}\n`
  const noAdmin = doctorJSON(makeHost(t, { ...readyHost(), 'proc/self/status': status('00000000a80425fb') }))
  t.equal(noAdmin.code, 1, 'docker default capabilities: no CAP_SYS_ADMIN')
  t.same(finding(noAdmin, 'privilege'), [
    {
      check: 'privilege',
      status: 'fail',
      summary: 'CAP_SYS_ADMIN: no; the hook mounts and runs as root under the runtime, and so must doctor to see what it sees',
      fix: 'sudo nvidia-procfs-hook doctor',
    },
  ])
  t.equal(doctorJSON(makeHost(t, { ...readyHost(), 'proc/self/status': status('0000000000200000') })).code, 0, 'bit 21 alone')
  t.match(finding(doctorJSON(makeHost(t, { ...readyHost(), 'proc/self/status': 'Name:\tnode\n' })), 'privilege')[0]?.summary, /^CAP_SYS_ADMIN: unknown \(no CapEff line\)/)
  t.match(finding(doctorJSON(makeHost(t, { ...readyHost(), 'proc/self/status': null })), 'privilege')[0]?.summary, /^CAP_SYS_ADMIN: unknown \(process status \/proc\/self\/status does not exist\)/)

  const oldLayout = doctorJSON(makeHost(t, { ...readyHost(), 'usr/bin/mount': null, 'bin/mount': script('exit 0'), 'usr/bin/nsenter': null }))
  t.same(finding(oldLayout, 'util-linux'), [
    {
      check: 'util-linux',
      status: 'fail',
      summary: 'missing from /usr/bin and /bin: nsenter; the hook runs them to mount',
      fix: 'apt-get install mount util-linux   # dnf install util-linux',
    },
  ])
  const fdBased = 'mount from util-linux 2.42.4 (libmount 2.42.4: selinux, smack, btrfs, verity, namespaces, idmapping, fd-based-mount, statmount, statx, assert, debug)\n'
  t.same(finding(doctorJSON(makeHost(t, { ...readyHost(), 'usr/bin/mount': printing(fdBased) })), 'util-linux')[0], {
    check: 'util-linux',
    status: 'ok',
    summary: 'util-linux 2.42.4, fd-based mount API: the bind is attached read-only, no remount (/usr/bin/mount, /usr/bin/umount, /usr/bin/nsenter, /usr/bin/flock)',
  })
  t.same(finding(doctorJSON(makeHost(t, { ...readyHost(), 'usr/bin/mount': script('exit 3') })), 'util-linux')[0], {
    check: 'util-linux',
    status: 'warn',
    summary: '/usr/bin/mount --version failed: exit 3; cannot tell which mount API it uses (/usr/bin/mount, /usr/bin/umount, /usr/bin/nsenter, /usr/bin/flock)',
  })
  t.match(finding(doctorJSON(makeHost(t, { ...readyHost(), 'usr/bin/mount': printing('mount (something else)\n') })), 'util-linux')[0]?.summary, /^util-linux of unknown version, classic mount\(2\)/)
  const nonExec = makeHost(t, readyHost())
  chmodSync(join(nonExec, 'usr/bin/flock'), 0o644)
  t.match(finding(doctorJSON(nonExec), 'util-linux')[0]?.summary, /missing from \/usr\/bin and \/bin: flock;/)
})

t.test('CDI specs', async t => {
  const noSpecs = doctorJSON(makeHost(t, { ...readyHost(), 'etc/cdi/nvidia.yaml': null }))
  t.equal(noSpecs.code, 0, 'no specs is a warning')
  t.same(finding(noSpecs, 'cdi'), [
    {
      check: 'cdi',
      status: 'warn',
      summary: 'no CDI specs in /etc/cdi or /var/run/cdi: no GPU can be requested by CDI name',
      fix: 'nvidia-ctk cdi generate --output=/etc/cdi/nvidia.yaml && nvidia-procfs-hook cdi patch /etc/cdi/nvidia.yaml',
    },
  ])
  t.same(finding(doctorJSON(makeHost(t, { ...readyHost(), 'etc/cdi/nvidia.yaml': null, 'etc/cdi': 'not a directory' })), 'cdi').length, 1, 'a file where the directory should be: no specs')

  const layout: Layout = {
    ...readyHost(),
    'etc/cdi/broken.yaml': 'kind: [\n',
    'etc/cdi/other.json': JSON.stringify({ cdiVersion: '0.5.0', kind: 'vendor.com/dev', devices: [], containerEdits: { env: ['A=1'] } }),
    'etc/cdi/notes.txt': 'ignored',
    'var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json': readFileSync(join(FIXTURES, 'k8s-device-plugin.json'), 'utf8'),
    'var/run/cdi/stale.yaml': patched('nvidia-ctk.yaml', '/opt/old/nvidia-procfs-hook'),
  }
  const root = makeHost(t, layout)
  mkdirSync(join(root, 'etc/cdi/dir.yaml'))
  const r = doctorJSON(root)
  t.equal(r.code, 1)
  t.same(finding(r, 'cdi'), [
    { check: 'cdi', status: 'fail', summary: "/etc/cdi/broken.yaml: not valid YAML (Flow sequence in block collection must be sufficiently indented and end with a ] at line 2, column 1)", fix: 'fix or remove /etc/cdi/broken.yaml' },
    { check: 'cdi', status: 'fail', summary: 'cannot read CDI spec /etc/cdi/dir.yaml: EISDIR', fix: 'fix or remove /etc/cdi/dir.yaml' },
    { check: 'cdi', status: 'ok', summary: '/etc/cdi/nvidia.yaml: patched (/usr/bin/nvidia-procfs-hook)' },
    { check: 'cdi', status: 'info', summary: '/etc/cdi/other.json: no NVIDIA hooks' },
    {
      check: 'cdi',
      status: 'fail',
      summary: "/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json: NVIDIA hooks run without nvidia-procfs-hook in front (1 hooks list)",
      fix: 'nvidia-procfs-hook cdi patch /var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json',
    },
    {
      check: 'cdi',
      status: 'fail',
      summary: '/var/run/cdi/stale.yaml: patched, but its entry runs /opt/old/nvidia-procfs-hook, which is not an executable file: every container given this device fails',
      fix: 'nvidia-procfs-hook cdi revert /var/run/cdi/stale.yaml && nvidia-procfs-hook cdi patch /var/run/cdi/stale.yaml',
    },
  ])
  const twoLists = JSON.parse(readFileSync(join(FIXTURES, 'k8s-device-plugin.json'), 'utf8')) as { devices: { containerEdits: { hooks?: unknown[] } }[]; containerEdits: { hooks: unknown[] } }
  for (const d of twoLists.devices) d.containerEdits.hooks = twoLists.containerEdits.hooks
  const two = doctorJSON(makeHost(t, { ...readyHost(), 'etc/cdi/nvidia.yaml': null, 'etc/cdi/two.json': JSON.stringify(twoLists), 'etc/cdi/z.json': JSON.stringify({ kind: 'x/y', containerEdits: { hooks: [ourCdiHook(), JSON.parse(readFileSync(join(FIXTURES, 'k8s-device-plugin.json'), 'utf8')).containerEdits.hooks.at(-1)] } }) }))
  t.match(finding(two, 'cdi')[0]?.summary, new RegExp(`in front \\(${twoLists.devices.length + 1} hooks lists\\)$`))
  t.match(finding(two, 'cdi')[1], { status: 'ok', summary: '/etc/cdi/z.json: patched (/usr/bin/nvidia-procfs-hook)' }, 'a spec without devices')
  const elsewhere = makeHost(t, {
    ...readyHost(),
    'usr/bin/nvidia-procfs-hook': null,
    'usr/local/bin/nvidia-procfs-hook': printing(`nvidia-procfs-hook ${version} (node v26.12.1)\n`),
    'etc/cdi/nvidia.yaml': readFileSync(join(FIXTURES, 'nvidia-cdi-hook.yaml'), 'utf8'),
  })
  t.match(finding(doctorJSON(elsewhere), 'cdi')[0], { fix: 'nvidia-procfs-hook cdi patch --binary /usr/local/bin/nvidia-procfs-hook /etc/cdi/nvidia.yaml' }, 'the fix names the installed binary')
})

t.test('hooks.d files', async t => {
  const dir = 'usr/share/containers/oci/hooks.d'
  const etc = 'etc/containers/oci/hooks.d'
  const r = doctorJSON(
    makeHost(t, {
      ...readyHost(),
      [`${dir}/nvidia-procfs-hook.json`]: HOOKS_FILE('/usr/local/bin/nvidia-procfs-hook'),
      [`${dir}/bad.json`]: '{"version": "1.0.0",',
      [`${etc}/noenv.json`]: JSON.stringify({ version: '1.0.0', hook: { path: '/usr/bin/x' }, when: { always: true }, stages: ['prestart'] }),
      [`${etc}/README`]: 'not a hooks file',
    }),
  )
  t.equal(r.code, 1)
  // The JSON parser's own words differ between Node versions.
  t.match(finding(r, 'hooks.d')[0]?.summary, new RegExp(`^/${dir}/bad\\.json: not JSON \\(.*\\): podman fails every container$`))
  // noenv.json is another's valid file where podman does not look (podman 4.3 reads /usr/share only): no finding.
  t.same(finding(r, 'hooks.d').map((f, i) => (i ? f : { ...f, summary: 'bad.json' })), [
    { check: 'hooks.d', status: 'fail', summary: 'bad.json', fix: `fix or remove /${dir}/bad.json` },
    {
      check: 'hooks.d',
      status: 'fail',
      summary: `/${dir}/nvidia-procfs-hook.json: precreate -> /usr/local/bin/nvidia-procfs-hook, which is not an executable file: podman skips the hook silently`,
      fix: `nvidia-procfs-hook install --hooks-d   # or remove /${dir}/nvidia-procfs-hook.json`,
    },
  ])
  const unreadable = makeHost(t, { ...readyHost(), [`${dir}/nvidia-procfs-hook.json`]: null })
  mkdirSync(join(unreadable, etc, 'x.json'), { recursive: true })
  t.same(finding(doctorJSON(unreadable), 'hooks.d'), [
    { check: 'hooks.d', status: 'warn', summary: `cannot read hooks.d file /${etc}/x.json: EISDIR`, fix: `fix or remove /${etc}/x.json` },
    {
      check: 'hooks.d',
      status: 'info',
      summary: 'no hooks.d file for nvidia-procfs-hook in /usr/share/containers/oci/hooks.d or /etc/containers/oci/hooks.d: podman relies on patched CDI specs alone',
      fix: 'nvidia-procfs-hook install --hooks-d',
    },
  ])
  t.match(run(['--host-root', unreadable]).out.join('\n'), /^info  hooks\.d .*\n {17}fix: nvidia-procfs-hook install --hooks-d$/m, 'info lines show their fix too')
})

t.test('the installed binary', async t => {
  const none = doctorJSON(makeHost(t, { ...readyHost(), 'usr/bin/nvidia-procfs-hook': null }))
  t.same(finding(none, 'binary'), [
    {
      check: 'binary',
      status: 'fail',
      summary: 'nvidia-procfs-hook is not installed (looked for /usr/bin/nvidia-procfs-hook, /usr/local/bin/nvidia-procfs-hook)',
      fix: `apt-get install ./nvidia-procfs-hook_${version}_amd64.deb   # or: nvidia-procfs-hook install`,
    },
  ])
  const old = doctorJSON(makeHost(t, { ...readyHost(), 'usr/bin/nvidia-procfs-hook': printing('nvidia-procfs-hook 0.0.9 (node v26.12.1)\n') }))
  t.equal(old.code, 0, 'another version is a warning')
  t.same(finding(old, 'binary'), [
    {
      check: 'binary',
      status: 'warn',
      summary: `/usr/bin/nvidia-procfs-hook: nvidia-procfs-hook 0.0.9 (node v26.12.1); this doctor is ${version}`,
      fix: `nvidia-procfs-hook install   # or install the ${version} package`,
    },
  ])
  const broken = doctorJSON(makeHost(t, { ...readyHost(), 'usr/bin/nvidia-procfs-hook': script('exit 1') }))
  t.same(finding(broken, 'binary'), [{ check: 'binary', status: 'fail', summary: '/usr/bin/nvidia-procfs-hook --version failed: exit 1', fix: 'nvidia-procfs-hook install' }])

  const recorded = {
    ...readyHost(),
    'opt/nph/bin/nvidia-procfs-hook': printing(`nvidia-procfs-hook ${version} (node v26.12.1)\n`),
    'var/lib/nvidia-procfs-hook/install.json': JSON.stringify({ files: ['/opt/nph/bin/nvidia-procfs-hook', '/usr/share/containers/oci/hooks.d/nvidia-procfs-hook.json', 7], dirs: [], specs: [] }),
  }
  t.match(finding(doctorJSON(makeHost(t, recorded)), 'binary')[0]?.summary, /^\/opt\/nph\/bin\/nvidia-procfs-hook: /, 'what install recorded comes first')
  for (const manifest of ['{', '{"files": "x"}']) {
    t.match(finding(doctorJSON(makeHost(t, { ...recorded, 'var/lib/nvidia-procfs-hook/install.json': manifest })), 'binary')[0]?.summary, /^\/usr\/bin\/nvidia-procfs-hook: /, `a manifest ${manifest} names nothing`)
  }
  const linked = makeHost(t, { ...readyHost(), 'usr/bin/nvidia-procfs-hook': null })
  symlinkSync('/nonexistent', join(linked, 'usr/bin/nvidia-procfs-hook'))
  t.match(finding(doctorJSON(linked), 'binary')[0], { status: 'fail', summary: /is not installed/ }, 'a dangling link is not an installed binary')
})

t.test('errors that are not verdicts are not turned into findings', async t => {
  const root = makeHost(t, readyHost())
  const fs = require('node:fs') as typeof import('node:fs')
  // Mocks reach every module doctor loads.
  const doctorWith = (mocks: Record<string, unknown>) => t.mockRequire<typeof import('../../src/doctor')>('../../src/doctor', mocks).doctor
  const eio = doctorWith({
    'node:fs': {
      ...fs,
      readdirSync: () => {
        throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' })
      },
    },
  })
  t.throws(() => eio({ root }), { code: 'EIO' })
  const bug = doctorWith({
    '../../src/cdi-spec': {
      parseSpec: () => {
        throw new Error('a bug')
      },
    },
  })
  t.throws(() => bug({ root }), { message: 'a bug' })
})

t.test('CDI specs weighed against the runsc found (nvidia.md: runsc 20260601+ skips the nvidia-cdi-hook form)', async t => {
  const cdiForm = readFileSync(join(FIXTURES, 'nvidia-cdi-hook.yaml'), 'utf8')
  const ctkForm = readFileSync(join(FIXTURES, 'nvidia-ctk.yaml'), 'utf8')
  const host = (runsc: string, spec: string) => doctorJSON(makeHost(t, { ...readyHost(), 'usr/bin/runsc': runscStandIn(runsc), 'etc/cdi/nvidia.yaml': spec }))
  t.match(finding(host('release-20260601.0', cdiForm), 'cdi')[0], {
    status: 'info',
    summary: /NVIDIA hooks run without nvidia-procfs-hook in front \(1 hooks list\); not needed with this runsc, which skips NVIDIA's nvidia-cdi-hook form, the only one here/,
  })
  t.equal(host('release-20260601.0', cdiForm).code, 0, 'ready')
  t.match(finding(host('release-20260601.0', ctkForm), 'cdi')[0], { status: 'fail' }, 'the nvidia-ctk form still fails there')
  t.match(finding(host('release-20260520.0', cdiForm), 'cdi')[0], { status: 'fail' }, 'an older runsc runs the cdi-hook form too')
  t.match(finding(host('release-20221219.0', ctkForm), 'cdi')[0], { status: 'warn' }, 'a runsc that skips CDI hooks: a warning')
})

t.test('CDI: an entry of ours without env, or one where nothing needs it', async t => {
  const unsafe = readFileSync(join(__dirname, '../fixtures/cases/cdi-ours-without-env.yaml'), 'utf8')
  const res = doctorJSON(makeHost(t, { ...readyHost(), 'etc/cdi/nvidia.yaml': unsafe }))
  t.equal(res.code, 1)
  t.same(finding(res, 'cdi'), [
    {
      check: 'cdi',
      status: 'fail',
      summary: "/etc/cdi/nvidia.yaml: containerEdits.hooks: an unsafe entry of ours (no env (it would inherit the container image's, LD_PRELOAD included)): the image's environment could run code in the hook",
      fix: 'nvidia-procfs-hook cdi patch /etc/cdi/nvidia.yaml',
    },
  ])
  const idle = 'kind: nvidia.com/gpu\ncontainerEdits:\n  hooks:\n  - {hookName: createContainer, path: /usr/bin/nvidia-procfs-hook, args: [nvidia-procfs-hook, hook], env: [PATH=/usr/bin]}\n  - {hookName: createContainer, path: /usr/bin/nvidia-ctk, args: [nvidia-ctk, hook, create-symlinks]}\n'
  t.match(finding(doctorJSON(makeHost(t, { ...readyHost(), 'etc/cdi/nvidia.yaml': idle })), 'cdi')[0], {
    status: 'warn',
    summary: '/etc/cdi/nvidia.yaml: containerEdits.hooks: an entry of ours where no hook needs it (the hook starts for nothing)',
  })
})

t.test('systemd: is the watcher unit active, and did the refresh unit fail?', async t => {
  const systemd = (layout: Layout) => finding(doctorJSON(makeHost(t, { ...readyHost(), ...layout })), 'systemd')
  t.same(systemd({}), [{ check: 'systemd', status: 'info', summary: 'systemd does not run this host: cannot tell whether specs are kept patched (nvidia-procfs-hook cdi patch --watch under its supervisor, or the DaemonSet)' }])
  const booted = { 'run/systemd/system/private': '' }
  t.same(systemd(booted), [{ check: 'systemd', status: 'info', summary: `${WATCH_UNIT} is not installed: rewritten specs are patched again only if something else runs nvidia-procfs-hook cdi patch --watch (the DaemonSet)` }])
  const unit = `usr/lib/systemd/system/${WATCH_UNIT}`
  const refresh = `lib/systemd/system/${REFRESH_UNIT}`
  /** A systemctl that answers is-active for exactly these units. */
  const systemctl = (units: string[], states: string[]) => script(`[ "$*" = "is-active ${units.join(' ')}" ] || exit 9\nprintf '${states.map(s => `${s}\\n`).join('')}'\nexit 3`)
  t.same(systemd({ ...booted, [unit]: '', 'usr/bin/systemctl': systemctl([WATCH_UNIT], ['active']) }), [{ check: 'systemd', status: 'ok', summary: `${WATCH_UNIT}: active` }])
  t.same(systemd({ ...booted, [unit]: '', [refresh]: '', 'usr/bin/systemctl': systemctl([WATCH_UNIT, REFRESH_UNIT], ['active', 'inactive']) }), [
    { check: 'systemd', status: 'ok', summary: `${WATCH_UNIT}: active; ${REFRESH_UNIT}: inactive` },
  ], 'the refresh unit is a oneshot: inactive once it has run')
  t.same(systemd({ ...booted, [`etc/systemd/system/${WATCH_UNIT}`]: '', [refresh]: '', 'usr/bin/systemctl': systemctl([WATCH_UNIT, REFRESH_UNIT], ['active', 'failed']) }), [
    { check: 'systemd', status: 'warn', summary: `${WATCH_UNIT}: active; ${REFRESH_UNIT}: failed (its ExecStartPost patches the spec it writes)`, fix: `journalctl -u ${REFRESH_UNIT}; systemctl restart ${REFRESH_UNIT}` },
  ])
  const stopped = doctorJSON(makeHost(t, { ...readyHost(), ...booted, [unit]: '', 'bin/systemctl': systemctl([WATCH_UNIT], ['failed']) }))
  t.same(finding(stopped, 'systemd'), [
    { check: 'systemd', status: 'warn', summary: `${WATCH_UNIT}: failed; specs rewritten from now on lose the entry`, fix: `systemctl enable --now ${WATCH_UNIT}   # why it stopped: journalctl -u ${WATCH_UNIT}` },
  ])
  t.equal(stopped.code, 0, 'a warning: the specs are patched now')
  const cannot = (layout: Layout) => systemd({ ...booted, [unit]: '', ...layout })[0]?.summary
  t.equal(cannot({}), `cannot tell whether ${WATCH_UNIT} is active: no systemctl`)
  t.equal(cannot({ 'usr/bin/systemctl': script('echo "System has not been booted with systemd as init system (PID 1). Can\'t operate." >&2; exit 1') }), `cannot tell whether ${WATCH_UNIT} is active: System has not been booted with systemd as init system (PID 1). Can't operate.`)
  t.equal(cannot({ 'usr/bin/systemctl': script('exit 1') }), `cannot tell whether ${WATCH_UNIT} is active: exit 1`)
  t.equal(cannot({ 'usr/bin/systemctl': script('kill -9 $$') }), `cannot tell whether ${WATCH_UNIT} is active: exit SIGKILL`)
  t.equal(cannot({ 'usr/bin/systemctl': '#!/nonexistent/interpreter\n' }), `cannot tell whether ${WATCH_UNIT} is active: ENOENT`)
  const started = Date.now()
  t.equal(cannot({ 'usr/bin/systemctl': script('exec sleep 30') }), `cannot tell whether ${WATCH_UNIT} is active: no answer within ${SYSTEMCTL_TIMEOUT_MS / 1000} s`)
  t.ok(Date.now() - started < SYSTEMCTL_TIMEOUT_MS + 2000, 'a wedged systemctl does not wedge the doctor')
})

t.test("engines' configuration: a verdict per runsc they name, and a clear line for what they cannot read", async t => {
  const engines = join(__dirname, '../fixtures/engines')
  const layout: Layout = {
    ...readyHost(),
    'etc/containerd/config.toml': readFileSync(join(engines, 'containerd-2.1/config-default.toml'), 'utf8') + readFileSync(join(engines, 'containerd-2.1/runsc-handlers.toml'), 'utf8'),
    'etc/containerd/runsc.toml': 'binary_name = "/opt/gvisor/runsc"\n[runsc_config]\n  nvproxy-driver-version = "590.48.01"\n',
    'opt/gvisor/runsc': runscStandIn('release-20260601.0'),
    'etc/crio/crio.conf': '[crio.runtime\n',
  }
  const r = doctorJSON(makeHost(t, layout))
  t.same(
    r.findings.filter(f => f.check === 'gpu-pods' || f.check === 'config').map(f => [f.check, f.status, f.summary]),
    [
      ['config', 'fail', 'CRI-O configuration /etc/crio/crio.conf is not valid TOML (Invalid TOML document: illegal character in key at line 1): CRI-O refuses to start with it, and doctor cannot tell what it runs'],
      ['gpu-pods', 'ok', 'containerd runsc (/opt/gvisor/runsc): GPU pods start: nvproxy pinned to driver ABI 590.48.01 (nvproxy-driver-version in /etc/containerd/runsc.toml) for driver 580.126.20'],
      ['gpu-pods', 'ok', 'podman runsc (/usr/bin/runsc): GPU pods start: nvproxy supports driver 580.126.20'],
    ],
  )
  t.match(r.findings.find(f => f.check === 'gpu-pods'), { data: { engine: 'containerd', name: 'runsc', wanted: '/opt/gvisor/runsc', hooks: 'runs-but-nvidia-cdi-hook', driver: '580.126.20', specs: { '/etc/cdi/nvidia.yaml': 'present' }, selfTest: null, start: true } }, '--json: the same as data')
  t.equal(r.code, 1, 'a configuration an engine refuses is a problem')
  t.same(
    r.findings.filter(f => f.check === 'runsc').map(f => f.summary.split(':')[0]),
    ['/opt/gvisor/runsc', '/usr/bin/runsc'],
    'each runsc binary once, in the order the engines name them',
  )
})

t.test('the hook-phase self-test runs only where it can, and says why not', async t => {
  t.equal(probeBlocked({ root: '/host' }, true, '/usr/bin/nvidia-procfs-hook', 0), 'it runs runsc on this machine, and --host-root examines another')
  t.equal(probeBlocked({ root: '/' }, true, '/usr/bin/nvidia-procfs-hook', 1000), 'it creates a sandbox with runsc, which needs root')
  t.equal(probeBlocked({ root: '/' }, false, '/usr/bin/nvidia-procfs-hook', 0), 'no NVIDIA driver loaded: nothing for the hook to bind')
  t.equal(probeBlocked({ root: '/' }, true, undefined, 0), 'no nvidia-procfs-hook binary to put in front')
  t.equal(probeBlocked({ root: '/' }, true, '/usr/bin/nvidia-procfs-hook', 0), undefined)
})
