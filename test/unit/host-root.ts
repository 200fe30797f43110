import t from 'tap'
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { HookError, UsageError } from '../../src/errors'
import { hostPath, hostRootFrom } from '../../src/host-root'
import { parseArgs } from '../../src/parse-args'

const root = mkdtempSync(join(tmpdir(), 'nph-host-root-'))
t.teardown(() => rmSync(root, { recursive: true, force: true }))
// A node's / as `kubectl debug node` shows it at /host: Debian's /var/run -> /run.
mkdirSync(join(root, 'run/cdi'), { recursive: true })
mkdirSync(join(root, 'var'), { recursive: true })
mkdirSync(join(root, 'etc/cdi'), { recursive: true })
symlinkSync('/run', join(root, 'var/run'))
writeFileSync(join(root, 'run/cdi/nvidia.yaml'), 'cdiVersion: 0.5.0\n')
symlinkSync('../../../../../etc', join(root, 'run/up-too-far'))
symlinkSync('cdi/nvidia.yaml', join(root, 'run/relative'))
symlinkSync('loop-b', join(root, 'loop-a'))
symlinkSync('loop-a', join(root, 'loop-b'))
writeFileSync(join(root, 'file'), '')

t.test('absolute links resolve from the host root, not from ours', async t => {
  t.equal(hostPath(root, '/var/run/cdi'), join(root, 'run/cdi'))
  t.equal(hostPath(root, '/var/run/cdi/nvidia.yaml'), join(root, 'run/cdi/nvidia.yaml'))
  t.equal(hostPath(root, '/var/run'), join(root, 'run'))
})

t.test('relative links resolve from their directory', async t => {
  t.equal(hostPath(root, '/run/relative'), join(root, 'run/cdi/nvidia.yaml'))
})

t.test('.. stops at the host root, in the path and in a link', async t => {
  t.equal(hostPath(root, '/../../etc/cdi'), join(root, 'etc/cdi'))
  t.equal(hostPath(root, '/run/up-too-far/cdi'), join(root, 'etc/cdi'))
  t.equal(hostPath(root, '/run/cdi/../../../etc'), join(root, 'etc'))
})

t.test('a missing component ends the walk; the rest is joined, .. still stopped', async t => {
  t.equal(hostPath(root, '/var/run/nvidia-procfs-hook/x'), join(root, 'run/nvidia-procfs-hook/x'))
  t.equal(hostPath(root, '/absent/../../../../etc'), join(root, 'etc'))
})

t.test('loops and non-directories are named', async t => {
  t.throws(() => hostPath(root, '/loop-a/x'), new HookError(`cannot resolve /loop-a/x under host root ${root}: too many levels of symbolic links`))
  t.throws(() => hostPath(root, '/file/x'), new HookError(`cannot resolve /file/x under host root ${root}: /file is not a directory`))
  t.throws(() => hostPath(join(root, 'absent'), '/etc'), { message: /^cannot resolve \/etc under host root .*absent: ENOENT$/ })
  const long = 'x'.repeat(256)
  t.throws(() => hostPath(root, `/run/${long}`), new HookError(`cannot resolve /run/${long} under host root ${root}: /run/${long}: ENAMETOOLONG`))
})

t.test('with / as the root the kernel resolves: the path is kept', async t => {
  t.equal(hostPath('/', '/var/run/cdi'), '/var/run/cdi')
})

t.test('hostRootFrom', async t => {
  t.equal(hostRootFrom(parseArgs([], { string: ['host-root'] }, 'x'), 'x'), '/')
  t.equal(hostRootFrom(parseArgs(['--host-root', root], { string: ['host-root'] }, 'x'), 'x'), root)
  t.throws(() => hostRootFrom(parseArgs(['--host-root', 'rel'], { string: ['host-root'] }, 'x'), 'x'), new UsageError('x: --host-root must be an absolute path'))
  t.throws(() => hostRootFrom(parseArgs(['--host-root', join(root, 'file')], { string: ['host-root'] }, 'x'), 'x'), new UsageError(`x: --host-root ${join(root, 'file')} is not a directory`))
})
