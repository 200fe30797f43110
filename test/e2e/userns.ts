import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { spawnSync } from 'node:child_process'
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { writeBusyboxRootfs } from '../harness/busybox-rootfs'
import { setSpecDir } from '../harness/cdi-dirs'
import { hideHybridCgroup2 } from '../harness/podman'
import { detachUnder, mountsUnder } from '../harness/scratch'
import { ourHook } from '../../src/registration'

// Containers whose user namespace does not map host root: root podman with
// --uidmap, and rootless podman (a user with subordinate ids), under runc and
// crun. Our entry, as `cdi patch --log-file` writes it, names a log in a
// root-only directory (the README's advice for crun), and the bundle is
// root's: from inside such a namespace neither can be opened. The hook has
// nothing to do there (runc and crun mount the container's own procfs), so
// the container must start, with a driver and without one.
const BUILT = resolve('dist/nvidia-procfs-hook')
const RUNTIMES = ['runc', 'crun'] as const
const USER = { name: 'nph-rootless', uid: 4711, gid: 4711, subid: 200000 }

const work = mkdtempSync(join(tmpdir(), 'nph-e2e-userns-'))
chmodSync(work, 0o755)
t.teardown(() => {
  // Rootless podman leaves a pause process holding its user namespace: ours to
  // stop, found by the runtime directory this test gave it, before that goes.
  for (const pid of readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    try {
      if (readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`XDG_RUNTIME_DIR=${join(work, 'podman-rootless', 'run')}`)) process.kill(Number(pid), 'SIGKILL')
    } catch {}
  }
  detachUnder(work)
  rmSync(work, { recursive: true, force: true })
})
hideHybridCgroup2()
// Where the other uids can reach it: a clone under root's 0700 home cannot be run from there.
const EXE = join(work, 'nvidia-procfs-hook')
copyFileSync(BUILT, EXE)

// Each namespace's root owns its rootfs, as an image unpacked for it would be.
const rootfsFor = (name: string, uid: number, gid: number) => {
  const dir = join(work, name)
  writeBusyboxRootfs(dir)
  const res = spawnSync('/usr/bin/chown', ['-R', `${uid}:${gid}`, dir], { encoding: 'utf8' })
  if (res.status !== 0) throw new Error(`chown: ${res.stderr}`)
  return dir
}
// A driver tree outside /proc: a tmpfs over /proc/driver (test/harness/fake-driver.ts)
// is an overmount on procfs, and the kernel then refuses the proc mount of
// every container in a new user namespace (mount_too_revealing).
const fakeDriver = join(work, 'driver')
mkdirSync(fakeDriver)
writeFileSync(join(fakeDriver, 'params'), 'ModifyDeviceFiles: 1\n')
const rootOnly = join(work, 'root-only')
mkdirSync(rootOnly, { mode: 0o700 })
const log = join(rootOnly, 'hook.log')
const cdi = join(work, 'cdi')
mkdirSync(cdi)
const flow = (h: { path: string; args: string[]; env: string[] }) => `{hookName: createContainer, path: ${h.path}, args: [${h.args.join(', ')}], env: [${h.env.join(', ')}]}`
writeFileSync(
  join(cdi, 'nvidia.yaml'),
  `cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    env: [GPU_UNDER_TEST=0]
containerEdits:
  hooks:
  - ${flow(ourHook({ binary: EXE, logFile: log }))}
`,
)
const TRUE = { path: '/usr/bin/true', args: ['true'], env: ['PATH=/usr/bin:/bin'] }
/**
 * The spec's one hook: our entry, its --source pointed at `source` (the
 * default is the host's /proc/driver/nvidia), or `true` as the control.
 */
const useHook = (hook: 'ours' | 'control', source?: string) => {
  const entry = hook === 'control' ? TRUE : ourHook({ binary: EXE, logFile: log })
  if (hook === 'ours' && source !== undefined) entry.args.push('--source', source)
  writeFileSync(join(cdi, 'nvidia.yaml'), `cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: "0"\n  containerEdits:\n    env: [GPU_UNDER_TEST=0]\ncontainerEdits:\n  hooks:\n  - ${flow(entry)}\n`)
}
const undoSpecDirs = [setSpecDir('/etc/cdi', cdi), setSpecDir('/var/run/cdi')]

// The rootless user exists in this namespace only: /etc/passwd, group,
// subuid and subgid are copies with one line added, bound over the host's.
for (const [file, line] of [
  ['passwd', `${USER.name}:x:${USER.uid}:${USER.gid}::${work}/home:/bin/sh`],
  ['group', `${USER.name}:x:${USER.gid}:`],
  ['subuid', `${USER.name}:${USER.subid}:65536`],
  ['subgid', `${USER.name}:${USER.subid}:65536`],
]) {
  const copy = join(work, `etc-${file}`)
  const orig = `/etc/${file}`
  // Debian's passwd package creates all four; the host's files are never written.
  writeFileSync(copy, `${readFileSync(orig, 'utf8')}${line}\n`)
  chmodSync(copy, 0o644)
  const bind = spawnSync('/usr/bin/mount', ['--bind', copy, orig], { encoding: 'utf8' })
  if (bind.status !== 0) throw new Error(`mount --bind ${copy} ${orig}: ${bind.stderr}`)
}
// The binds sit on /etc's overlay (setSpecDir): they go first.
t.teardown(() => {
  for (const file of ['passwd', 'group', 'subuid', 'subgid']) spawnSync('/usr/bin/umount', [`/etc/${file}`])
  for (const undo of undoSpecDirs) undo()
})

const conf = join(work, 'containers.conf')
writeFileSync(conf, '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
chmodSync(conf, 0o644)

interface Podman {
  name: string
  dir: string
  uid?: number
  rootfs: string
  flags: (runtime: string) => string[]
}

const ROOT_UIDMAP: Podman = {
  name: 'root podman --uidmap 0:100000:65536',
  dir: join(work, 'podman-root'),
  rootfs: rootfsFor('rootfs-uidmap', 100000, 100000),
  flags: () => ['--uidmap', '0:100000:65536', '--gidmap', '0:100000:65536'],
}
const ROOTLESS: Podman = {
  name: `rootless podman (uid ${USER.uid}, subordinate ids ${USER.subid}+65536)`,
  dir: join(work, 'podman-rootless'),
  uid: USER.uid,
  rootfs: rootfsFor('rootfs-rootless', USER.uid, USER.gid),
  // This machine's cgroup v1 gives a user no cgroup of its own; runc needs one, crun does without.
  flags: runtime => (runtime === 'crun' ? ['--cgroups=disabled'] : []),
}
for (const p of [ROOT_UIDMAP, ROOTLESS]) {
  mkdirSync(join(p.dir, 'run'), { recursive: true, mode: 0o700 })
  if (p.uid !== undefined) {
    mkdirSync(join(work, 'home'), { mode: 0o700 })
    for (const d of [p.dir, join(p.dir, 'run'), join(work, 'home')]) chownSync(d, p.uid, USER.gid)
  }
}

const podman = (p: Podman, args: string[]) =>
  spawnSync(
    '/usr/bin/podman',
    ['--root', join(p.dir, 'root'), '--runroot', join(p.dir, 'runroot'), '--tmpdir', join(p.dir, 'tmp'), '--storage-driver', 'vfs', ...args],
    {
      ...(p.uid === undefined ? {} : { uid: p.uid, gid: USER.gid }),
      env: {
        PATH: '/usr/sbin:/usr/bin:/sbin:/bin',
        CONTAINERS_CONF: conf,
        HOME: p.uid === undefined ? p.dir : join(work, 'home'),
        XDG_RUNTIME_DIR: join(p.dir, 'run'),
        PODMAN_IGNORE_CGROUPSV1_WARNING: '1',
      },
      cwd: work,
      encoding: 'utf8',
      timeout: 120_000,
    },
  )

const runIn = (p: Podman, runtime: string) =>
  podman(p, ['--runtime', runtime, 'run', '--rm', '--network', 'none', '--device', 'nvidia.com/gpu=0', ...p.flags(runtime), '--rootfs', p.rootfs, '/bin/sh', '-c', 'echo container-started uid=$(id -u) GPU_UNDER_TEST=$GPU_UNDER_TEST'])
const STARTED = /^container-started uid=0 GPU_UNDER_TEST=0$/m

t.test('the user namespaces under test do not map host root', async t => {
  for (const p of [ROOT_UIDMAP, ROOTLESS]) {
    const res = podman(p, ['--runtime', 'runc', 'run', '--rm', '--network', 'none', ...p.flags('runc'), '--rootfs', p.rootfs, '/bin/cat', '/proc/self/uid_map'])
    t.equal(res.status, 0, res.stderr)
    t.notMatch(res.stdout, /^\s*\d+\s+0\s+\d+\s*$/m, `${p.name}: host uid 0 is not mapped`)
  }
})

// The control: the same spec with `true` as its hook. crun 1.8.1 (Debian 12)
// fails every createContainer hook in a --uidmap container, `true` included
// (measured: "error executing hook `/usr/bin/true` (exit code: 1)"): there
// our hook can only fail as `true` does.
const controls = new Map<string, boolean>()
t.test('control: a `true` hook in each namespace and runtime', async t => {
  useHook('control')
  for (const p of [ROOT_UIDMAP, ROOTLESS]) {
    for (const runtime of RUNTIMES) {
      const res = runIn(p, runtime)
      const started = res.status === 0 && STARTED.test(res.stdout)
      controls.set(`${p.name} ${runtime}`, started)
      if (p === ROOT_UIDMAP && runtime === 'crun') t.comment(`${p.name}, ${runtime}: ${started ? 'starts' : res.stderr.trim()}`)
      else t.ok(started, `${p.name}, ${runtime}: the container starts (${res.stderr.trim()})`)
    }
  }
})

for (const driver of ['a driver loaded', 'no driver'] as const) {
  t.test(`${driver}: the log cannot be opened, nor (with --uidmap) the bundle; every container the control starts starts`, async t => {
    useHook('ours', driver === 'a driver loaded' ? fakeDriver : undefined)
    for (const p of [ROOT_UIDMAP, ROOTLESS]) {
      for (const runtime of RUNTIMES) {
        const res = runIn(p, runtime)
        if (controls.get(`${p.name} ${runtime}`)) {
          t.equal(res.status, 0, `${p.name}, ${runtime}: podman run exits 0 (${res.stderr.trim()})`)
          t.match(res.stdout, STARTED, `${p.name}, ${runtime}: the container started with the CDI device's edits`)
        } else {
          t.not(res.status, 0, `${p.name}, ${runtime}: fails as the control does`)
        }
      }
    }
  })
}

t.test('the log stays root\'s and empty; nothing is left mounted', async t => {
  t.notOk(existsSync(log), 'no run could open it, and none failed for it')
  t.same(mountsUnder(work), [])
})
