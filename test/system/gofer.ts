import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { FAKE_PARAMS, mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { mountsUnder, scratchBundle } from '../harness/scratch'
import { EXE } from '../harness/target'
import { ourHook } from '../../src/registration'

// The failure this project exists to remove, and its removal, through the
// emulation of runsc's gofer (test/harness/gofer-emulation.mjs).
const GOFER = resolve('test/harness/gofer-emulation.mjs')
const STAND_IN = resolve('test/harness/nvidia-hook-stand-in.mjs')

// The entry as registration writes it, pointed at the built executable.
const ours = (logFile: string) => ourHook({ binary: EXE, logFile })
const nvidias = { path: STAND_IN, args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] }

mountFakeDriver()
t.teardown(unmountFakeDriver)

/** runsc's environment: none of tap's (its NODE_OPTIONS would reach every hook the emulation starts). */
const GOFER_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }

const goferRun = (t: Test, hooks: object[], linux: object = {}, extra: object = {}, env: NodeJS.ProcessEnv = GOFER_ENV) => {
  const { bundle, rootfs } = scratchBundle(t)
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, linux, hooks: { createContainer: hooks }, ...extra }))
  const res = spawnSync(process.execPath, [GOFER, bundle, 'c1'], { encoding: 'utf8', env })
  return { bundle, rootfs, res, report: JSON.parse(res.stdout) as { ok: boolean; params?: string; mounts?: { mountPoint: string; options: string }[] } }
}

t.test('without our hook, NVIDIA\'s hook fails and the container never starts', async t => {
  const { rootfs, res, report } = goferRun(t, [nvidias])
  t.equal(res.status, 128, 'the gofer exits 128')
  t.match(res.stderr, `FATAL ERROR: error executing CreateContainer hooks: failure executing hook "${STAND_IN}", err: exit status 1\nstdout: \nstderr: `)
  t.match(res.stderr, `open o_path procfd: open ${rootfs}/proc/driver/nvidia/params: no such file or directory`)
  t.equal(report.ok, false)
})

t.test('with our hook first, it succeeds and the gofer root shows ModifyDeviceFiles: 0', async t => {
  const { bundle, rootfs, res, report } = goferRun(t, [ours('/dev/null'), nvidias])
  t.equal(res.status, 0, res.stderr)
  t.equal(report.params, FAKE_PARAMS.replace('ModifyDeviceFiles: 1', 'ModifyDeviceFiles: 0'))
  const ourMount = report.mounts?.find(m => m.mountPoint === '/proc/driver/nvidia')
  t.match(ourMount?.options, /^ro,nosuid,nodev,noexec/)
  t.ok(report.mounts?.find(m => m.mountPoint === '/proc/driver/nvidia/params'), 'NVIDIA\'s params bind on top of ours')
  t.same(mountsUnder(bundle), [], 'every mount died with the gofer\'s namespace')
  t.equal(readFileSync('/proc/driver/nvidia/params', 'utf8'), FAKE_PARAMS, 'host params untouched')
  t.throws(() => readFileSync(join(rootfs, 'proc/driver/nvidia/params')), { code: 'ENOENT' }, 'outside the gofer, nothing is mounted')
})

t.test('order matters: after NVIDIA\'s hook, ours is too late', async t => {
  const { res } = goferRun(t, [nvidias, ours('/dev/null')])
  t.equal(res.status, 128)
  t.match(res.stderr, 'no such file or directory')
})

t.test('the gofer\'s state reaches our hook: pid -1, status creating, inferred createContainer', async t => {
  const { bundle } = scratchBundle(t)
  const log = join(bundle, 'hook.log')
  const hook = { ...ours(log), args: ['nvidia-procfs-hook', '--log-file', log] }
  const { res } = goferRun(t, [hook, nvidias])
  t.equal(res.status, 0, res.stderr)
  t.match(JSON.parse(readFileSync(log, 'utf8')), { id: 'c1', stage: 'createContainer', action: 'mounted' })
})

t.test('a pod with a Bidirectional volume (rootfsPropagation rshared or shared): refused before any hook, as runsc refuses it', async t => {
  for (const rootfsPropagation of ['rshared', 'shared', 'unbindable']) {
    const log = join(mkdtempSync(join(tmpdir(), 'nph-log-')), 'hook.log')
    t.teardown(() => rmSync(dirname(log), { recursive: true, force: true }))
    const { bundle, res, report } = goferRun(t, [ours(log), nvidias], { rootfsPropagation })
    t.equal(res.status, 128, `${rootfsPropagation}: the gofer exits 128`)
    t.equal(res.stderr, `FetchSpec failed: reading spec: root mount propagation option must specify private or slave: "${rootfsPropagation}"\n`, `${rootfsPropagation}: runsc's words`)
    t.same(report, { ok: false, refused: rootfsPropagation })
    t.throws(() => readFileSync(log), { code: 'ENOENT' }, `${rootfsPropagation}: no hook ran`)
    t.same(mountsUnder(bundle), [])
  }
  for (const rootfsPropagation of ['private', 'rprivate', 'slave', 'rslave']) {
    const { res, report } = goferRun(t, [ours('/dev/null'), nvidias], { rootfsPropagation })
    t.equal(res.status, 0, `${rootfsPropagation}: accepted (${res.stderr})`)
    t.match(report.mounts?.find(m => m.mountPoint === '/proc/driver/nvidia')?.options, /^ro,nosuid,nodev,noexec/)
  }
})

// Each point of the emulation, as runtimes.md measured the real gofer.
/** A hook that runs `script` in sh with OUT naming a file in the bundle; returns its path and the file. */
const probe = (t: Test, script: string, env = true) => {
  const out = join(mkdtempSync(join(tmpdir(), 'nph-probe-')), 'out')
  t.teardown(() => rmSync(dirname(out), { recursive: true, force: true }))
  return { out, hook: { path: '/bin/sh', args: ['probe-argv0', '-c', `${script}`], ...(env ? { env: [`OUT=${out}`, 'PATH=/usr/bin:/bin'] } : {}) } }
}

t.test('the state on stdin: ociVersion 1.2.1, status creating, pid -1, the bundle, the annotations', async t => {
  const p = probe(t, 'cat > "$OUT"')
  const { bundle, res } = goferRun(t, [p.hook], {}, { annotations: { 'io.kubernetes.cri.sandbox-id': 'abc' } })
  t.equal(res.status, 0, res.stderr)
  t.same(JSON.parse(readFileSync(p.out, 'utf8')), { ociVersion: '1.2.1', id: 'c1', status: 'creating', pid: -1, bundle, annotations: { 'io.kubernetes.cri.sandbox-id': 'abc' } })
})

t.test("each hook's args[0] and env: its own list, or the gofer's less GOMAXPROCS", async t => {
  const own = probe(t, 'echo "$0" > "$OUT"; env >> "$OUT"')
  t.equal(goferRun(t, [own.hook]).res.status, 0)
  const [argv0, ...vars] = readFileSync(own.out, 'utf8').trim().split('\n')
  t.equal(argv0, 'probe-argv0', 'args[0] as given')
  // The shell adds PWD (and, some, SHLVL and _) itself.
  t.same(vars.filter(v => !/^(PWD|SHLVL|_)=/.test(v)).sort(), [`OUT=${own.out}`, 'PATH=/usr/bin:/bin'], 'exactly its env list')
  const inherit = probe(t, 'env > "$OUT"', false)
  const script = inherit.hook.args[2] as string
  inherit.hook.args[2] = script.replace('"$OUT"', inherit.out)
  t.equal(goferRun(t, [inherit.hook], {}, {}, { ...GOFER_ENV, GOMAXPROCS: '3', GOFER_MARK: 'x' }).res.status, 0)
  const env = readFileSync(inherit.out, 'utf8')
  t.match(env, /^GOFER_MARK=x$/m, "no env: the gofer's own")
  t.notMatch(env, /^GOMAXPROCS=/m, 'less GOMAXPROCS')
})

t.test('a hook past its timeout is killed (SIGKILL) and fails the container', async t => {
  const slow = { path: '/bin/sh', args: ['sh', '-c', 'trap "" TERM; sleep 30'], env: ['PATH=/usr/bin:/bin'], timeout: 1 }
  const began = Date.now()
  const { res } = goferRun(t, [slow])
  t.ok(Date.now() - began < 10_000, 'not waited out')
  t.equal(res.status, 128)
  t.equal(res.stderr, 'FATAL ERROR: error executing CreateContainer hooks: timeout executing hook "/bin/sh"\n')
})

t.test('spec and CDI bind mounts are in the rootfs before the hooks; /proc/fs as runsc sets it up', async t => {
  const lib = join(mkdtempSync(join(tmpdir(), 'nph-lib-')), 'libcuda.so.1')
  writeFileSync(lib, 'FAKE library\n')
  t.teardown(() => rmSync(dirname(lib), { recursive: true }))
  const { bundle } = scratchBundle(t)
  const p = probe(t, `cat ${bundle}/rootfs/usr/lib/libcuda.so.1 > "$OUT"; cat /proc/self/mountinfo >> "$OUT"`)
  const mounts = [{ destination: '/usr/lib/libcuda.so.1', source: lib, type: 'bind', options: ['ro', 'nosuid', 'nodev', 'rbind', 'rprivate'] }]
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, mounts, hooks: { createContainer: [p.hook] } }))
  // As on a systemd host, where `/` is shared: the gofer's copy then becomes a slave.
  execFileSync('/usr/bin/mount', ['--make-rshared', '/'])
  t.teardown(() => execFileSync('/usr/bin/mount', ['--make-rprivate', '/']))
  const res = spawnSync(process.execPath, [GOFER, bundle, 'c1'], { encoding: 'utf8', env: GOFER_ENV })
  t.equal(res.status, 0, res.stderr)
  const seen = readFileSync(p.out, 'utf8')
  t.match(seen, /^FAKE library\n/, 'the CDI mount was there when the hook ran')
  t.match(seen, new RegExp(` ${bundle}/rootfs/usr/lib/libcuda\\.so\\.1 ro,`), 'read-only')
  const line = (mp: string) => seen.split('\n').find(l => l.split(' ')[4] === mp) ?? ''
  t.match(line('/proc/fs'), /nosuid,nodev,noexec.* unbindable /, '/proc/fs: tmpfs, nosuid, nodev, noexec, unbindable')
  t.match(line('/proc/fs/proc'), / ro,/, "the host's /proc read-only at /proc/fs/proc")
  t.match(line(`${bundle}/rootfs`), / master:\d+/, 'the rootfs self-bind: a slave by default (rslave)')
  t.match(line('/'), / master:\d+/, '/ made a slave')
})

t.test('root.path absolute; root.readonly applied after the hooks, so ours still mounts', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: rootfs, readonly: true }, hooks: { createContainer: [ours('/dev/null'), nvidias] } }))
  const res = spawnSync(process.execPath, [GOFER, bundle, 'c1'], { encoding: 'utf8', env: GOFER_ENV })
  t.equal(res.status, 0, res.stderr)
  const report = JSON.parse(res.stdout) as { params: string; mounts: { mountPoint: string; options: string }[] }
  t.match(report.params, /^ModifyDeviceFiles: 0$/m)
  t.match(report.mounts.find(m => m.mountPoint === '/')?.options, /^ro,/, 'the gofer root read-only, afterwards')
})
