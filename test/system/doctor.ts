// doctor on this machine itself: the util-linux it finds and which mount API
// that uses, and the self-test of the real mount path, with and without a
// driver, and when the mount cannot be made. Runs with each util-linux the
// suites cover (test/system/util-linux.ts).
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync, spawnSync } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { HOOK, HOOK_ENV } from '../harness/containment'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { resolve } from 'node:path'
import type { Finding } from '../../src/doctor-finding'
import { selfTestCheck } from '../../src/doctor-self-test'

const version = execFileSync('/usr/bin/mount', ['--version'], { encoding: 'utf8' })
const release = /util-linux (\S+)/.exec(version)?.[1] as string
const api = /\bfd-based-mount\b/.test(version) ? 'fd-based' : 'classic'

/** doctor --json's findings for `check`, run through `wrap` (a command prefix). */
const doctor = (wrap: string[] = []) => {
  const [cmd, ...args] = [...wrap, HOOK, 'doctor', '--json']
  const r = spawnSync(cmd as string, args, { env: HOOK_ENV, encoding: 'utf8' })
  const findings = (JSON.parse(r.stdout) as { findings: Finding[] }).findings
  return (check: string) => findings.find(f => f.check === check)
}
const leftovers = () => readdirSync('/tmp').filter(n => n.startsWith('nvidia-procfs-hook-doctor-'))
const mountinfo = () => readFileSync('/proc/self/mountinfo', 'utf8')

t.test(`util-linux ${release}: named with its mount API`, async t => {
  const summary = doctor()('util-linux')?.summary
  t.match(
    summary,
    new RegExp(
      `^util-linux ${release.replace(/\./g, '\\.')}, ${api === 'fd-based' ? 'fd-based mount API: the bind is attached read-only, no remount' : 'classic mount\\(2\\): bind, then remount read-only through a fresh fd'}, made by the hook itself \\(node:ffi\\); it runs nsenter only \\(/usr/bin/mount, `,
    ),
  )
})

t.test('self-test with a driver loaded: the real source, ok, nothing left', async t => {
  mountFakeDriver()
  t.teardown(unmountFakeDriver)
  const before = mountinfo()
  t.same(doctor()('self-test'), {
    check: 'self-test',
    status: 'ok',
    summary: `the real mount path works: /proc/driver/nvidia on a scratch rootfs bound read-only in a private mount namespace (${api} mount API)`,
  })
  t.match(selfTestCheck({ root: '/' }, [HOOK]), { status: 'ok', summary: /^the real mount path works: \/proc\/driver\/nvidia on a scratch rootfs/ }, 'in-process too')
  t.same(leftovers(), [], 'scratch removed')
  t.equal(mountinfo(), before, 'no mount left here')
})

t.test('self-test without a driver: a scratch source, ok, nothing left', async t => {
  const before = mountinfo()
  t.match(doctor()('self-test'), { status: 'ok', summary: `the real mount path works: a scratch source (no driver loaded) on a scratch rootfs bound read-only in a private mount namespace (${api} mount API)` })
  t.same(leftovers(), [])
  t.equal(mountinfo(), before)
})

t.test('self-test without CAP_SYS_ADMIN: FAIL with the mount error and a fix, nothing left', async t => {
  const f = doctor(['/usr/bin/setpriv', '--inh-caps=-sys_admin', '--bounding-set=-sys_admin', '--'])('self-test')
  t.equal(f?.status, 'fail')
  t.match(f?.summary, /^the real mount path fails \(a scratch source \(no driver loaded\) on a scratch rootfs\): unshare: unshare failed: Operation not permitted$/)
  t.equal(f?.fix, 'sudo nvidia-procfs-hook doctor   # as root with CAP_SYS_ADMIN, as runtimes run the hook')
  t.same(leftovers(), [])
})

t.test('self-test with util-linux mount(8) and umount(8) that cannot run: ok, the executable mounts and unmounts by itself', async t => {
  const f = doctor(['/usr/bin/unshare', '-m', '--propagation', 'private', '/bin/sh', '-c', 'mount --bind /dev/null /usr/bin/umount && mount --bind /dev/null /usr/bin/mount && exec "$0" "$@"'])('self-test')
  t.match(f, { check: 'self-test', status: 'ok', summary: new RegExp(`\\(${api} mount API\\)$`) })
  t.same(leftovers(), [])
})

t.test('in-process: the self-test judges what the hook said', async t => {
  const sh = (script: string) => ['/bin/sh', '-c', script, 'sh']
  t.match(selfTestCheck({ root: '/' }, [resolve('dist/nvidia-procfs-hook')]), { status: 'ok', summary: new RegExp(`\\(${api} mount API\\)$`) })
  t.same(selfTestCheck({ root: '/' }, sh('echo "nvidia-procfs-hook: error: mount --bind x y failed: mount: boom" >&2; exit 1')), {
    check: 'self-test',
    status: 'fail',
    summary: 'the real mount path fails (a scratch source (no driver loaded) on a scratch rootfs): mount --bind x y failed: mount: boom',
    fix: 'nvidia-procfs-hook hook --rootfs DIR --debug   # on an empty scratch DIR: shows each step; report the output with doctor --json',
  })
  t.match(selfTestCheck({ root: '/' }, sh('echo "nvidia-procfs-hook: error: flock not found in /usr/bin, /bin (util-linux)" >&2; exit 1')), { fix: /^apt-get install --reinstall mount util-linux/ })
  t.match(selfTestCheck({ root: '/' }, sh('echo "mount: /x: permission denied." >&2; exit 1')), { fix: /^sudo nvidia-procfs-hook doctor/ })
  t.match(selfTestCheck({ root: '/' }, ['/bin/false']), { status: 'fail', summary: /: exit 1$/ })
  t.match(selfTestCheck({ root: '/' }, sh('kill -9 $$')), { status: 'fail', summary: /: exit SIGKILL$/ }, 'killed: unshare passes the signal on')
  t.match(selfTestCheck({ root: '/' }, sh('echo "nvidia-procfs-hook: skipped: no" >&2')), { status: 'fail', summary: /: nvidia-procfs-hook: skipped: no$/ }, 'exit 0 without a mount is no pass')
  execFileSync('/usr/bin/mount', ['--bind', '/dev/null', '/usr/bin/unshare'])
  t.teardown(() => execFileSync('/usr/bin/umount', ['/usr/bin/unshare']))
  t.match(selfTestCheck({ root: '/' }, ['/bin/true']), { status: 'fail', summary: /: cannot run \/usr\/bin\/unshare: EACCES$/ })
  t.same(leftovers(), [])
})
