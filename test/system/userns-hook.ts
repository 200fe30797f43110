import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

// The executable in a user namespace that does not map host root (as a
// rootless or --uidmap container's hooks run): uid 65534 makes one with
// `unshare -U -r`, which maps only itself to root. The bundle is root's and
// 0700, as a runtime's is, so config.json cannot be opened from there.
const work = mkdtempSync(join(tmpdir(), 'nph-userns-hook-'))
chmodSync(work, 0o755)
t.teardown(() => rmSync(work, { recursive: true, force: true }))
// Where uid 65534 can reach it: a clone under root's 0700 home cannot be run from there.
const EXE = join(work, 'nvidia-procfs-hook')
copyFileSync(resolve('dist/nvidia-procfs-hook'), EXE)
const bundle = join(work, 'bundle')
mkdirSync(join(bundle, 'rootfs'), { recursive: true })
writeFileSync(join(bundle, 'config.json'), JSON.stringify({ root: { path: 'rootfs' } }))
chmodSync(bundle, 0o700)
const source = join(work, 'driver')
mkdirSync(source)
writeFileSync(join(source, 'params'), 'ModifyDeviceFiles: 1\n')
const state = JSON.stringify({ ociVersion: '1.0.2', id: 'c1', status: 'creating', pid: 1, bundle })

const asNobody = (userns: boolean, args: string[]) =>
  spawnSync('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', ...(userns ? ['/usr/bin/unshare', '-U', '-r'] : []), EXE, ...args], {
    input: state,
    cwd: work,
    encoding: 'utf8',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  })

t.test('in a user namespace without host root: an unreadable config.json is nothing to do', async t => {
  const map = spawnSync('/usr/bin/setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '/usr/bin/unshare', '-U', '-r', '/bin/cat', '/proc/self/uid_map'], { cwd: work, encoding: 'utf8' })
  t.match(map.stdout, /^\s*0\s+65534\s+1\s*$/, 'only uid 65534 is mapped, to root')
  const r = asNobody(true, ['--stage', 'createContainer', '--source', source])
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stderr, '', 'silent, as a runtime wants it')
  const logged = asNobody(true, ['--stage', 'createContainer', '--source', source, '--log-file', join(bundle, 'hook.log')])
  t.equal(logged.status, 0)
  t.equal(logged.stderr, `nvidia-procfs-hook: warning: cannot open log file ${join(bundle, 'hook.log')}: EACCES; this run is not logged\n`)
})

t.test('where host root is mapped, the same unreadable config.json is an error', async t => {
  const r = asNobody(false, ['--stage', 'createContainer', '--source', source])
  t.equal(r.status, 1)
  t.equal(r.stderr, `nvidia-procfs-hook: error: cannot open bundle config ${join(bundle, 'config.json')}: EACCES\n`)
})

t.test('without a driver nothing is read at all', async t => {
  const r = asNobody(true, ['--stage', 'createContainer', '--source', join(work, 'absent')])
  t.equal(r.status, 0)
  t.equal(r.stderr, '')
})
