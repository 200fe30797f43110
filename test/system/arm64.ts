// The linux-arm64 single executable (dist/linux-arm64, built by the pretest)
// as an arm64 host runs it. Each file that runs the executable runs again
// with ARCH_VAR=arm64: inside a user and mount namespace of its own where
// Debian's qemu-user-static is registered as binfmt_misc would have it on a
// host (test/harness/enter-arch.sh), so runtimes, the gofer emulation,
// nsenter and the hook's re-run of itself exec the arm64 binary by path, and
// its mounts go to this kernel. That needs Linux >= 6.7 (a binfmt_misc
// instance per user namespace); an older kernel gets --version under qemu
// with a sysroot, and the rest is skipped with the reason.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { version } from '../../package.json'
import { ARCH_VAR, QEMU_ARCH, sysrootFor } from '../harness/target'

// Each file's run takes seconds to a minute: every start of the executable is emulated.
t.setTimeout(900_000)

const ARCH = 'arm64'
const QEMU = `/usr/bin/qemu-${QEMU_ARCH[ARCH]}-static`
const EXE = 'dist/linux-arm64/nvidia-procfs-hook'

/** The files whose cases run the single executable, or an image of it (test/system/util-linux.ts has the mount-path list). */
export const EXECUTABLE_FILES = [
  'test/system/executable.ts',
  'test/system/hook.ts',
  'test/system/gofer.ts',
  'test/system/mount-api.ts',
  'test/system/faults.ts',
  // The DaemonSet's arm64 image: an arm64 base, the build's RUN under qemu, its two containers.
  'test/e2e/daemonset-image.ts',
]

// Their assertions count, their coverage does not (as in util-linux.ts).
const { NODE_V8_COVERAGE: _, ...env } = process.env

/** binfmt_misc entries on this machine: what the runs must leave as they found. */
const hostBinfmt = () => (existsSync('/proc/sys/fs/binfmt_misc/status') ? readdirSync('/proc/sys/fs/binfmt_misc').sort() : 'not mounted')

const privateBinfmt = spawnSync('/usr/bin/unshare', ['--user', '--map-root-user', '--mount', '--propagation', 'private', '/usr/bin/mount', '-t', 'binfmt_misc', 'binfmt_misc', '/proc/sys/fs/binfmt_misc'], { encoding: 'utf8' })
const noPrivateBinfmt = privateBinfmt.status !== 0 && `this kernel has no binfmt_misc per user namespace (Linux >= 6.7): ${privateBinfmt.stderr.trim()}`

t.test('--version under qemu-user, from a sysroot of Debian arm64 libraries', async t => {
  const res = spawnSync(QEMU, ['-L', sysrootFor(ARCH), EXE, '--version'], { env: { PATH: '/nonexistent' }, encoding: 'utf8' })
  t.equal(res.status, 0, res.stderr)
  t.match(res.stdout, new RegExp(`^nvidia-procfs-hook ${version.replace(/\./g, '\\.')} \\(node v26\\.`))
})

t.test('the executable\'s files again, as an arm64 host runs it', { skip: noPrivateBinfmt }, async t => {
  const before = hostBinfmt()
  // Every start of the executable is emulated: a file's own 30 s default is too short under load.
  for (const file of EXECUTABLE_FILES) await t.spawn(process.execPath, [...process.execArgv, file], { env: { ...env, [ARCH_VAR]: ARCH, TAP_TIMEOUT: '600' } }, `arm64: ${file}`)
  t.same(hostBinfmt(), before, 'nothing registered on this machine')
})

t.test('outside those namespaces this machine cannot exec it: the registration was theirs alone', { skip: noPrivateBinfmt || (hostBinfmt() !== 'not mounted' && 'this machine has binfmt_misc mounted: an entry there may run it') }, async t => {
  // execve fails with ENOEXEC; libuv's execvp then hands the file to /bin/sh, which cannot read it.
  const res = spawnSync(EXE, ['--version'], { encoding: 'utf8' })
  t.not(res.status, 0)
  t.equal(res.stdout, '', 'it did not run')
})
