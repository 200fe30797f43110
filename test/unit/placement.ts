import t from 'tap'
import { spawn } from 'node:child_process'
import { place, procProbe, type ProcessProbe } from '../../src/placement'

const probe = (over: Partial<ProcessProbe> = {}): ProcessProbe => ({
  mountNamespace: pid => (pid === 'self' ? 'mnt:[1]' : 'mnt:[2]'),
  isRunscSandbox: () => false,
  ...over,
})

t.test('createContainer acts here, whatever the pid', async t => {
  for (const pid of [undefined, -1, 0, 1, 4242]) t.same(place('createContainer', pid, probe()), { act: 'here', stage: 'createContainer' })
})

t.test('without --stage, the pid tells the stage', async t => {
  t.same(place(undefined, -1, probe()), { act: 'here', stage: 'createContainer' }, 'runsc gofer')
  t.same(place(undefined, 0, probe()), { act: 'here', stage: 'createContainer' }, 'crun')
  t.same(place(undefined, 1, probe()), { act: 'here', stage: 'createContainer' }, 'runc')
  t.same(place(undefined, undefined, probe()), { act: 'here', stage: 'createContainer' })
  t.same(place(undefined, 4242, probe()), { act: 'enter', stage: 'createRuntime', pid: 4242 }, 'host pid: runtime namespace')
})

t.test('runtime stages reach the container through its pid', async t => {
  t.same(place('prestart', 4242, probe()), { act: 'enter', stage: 'prestart', pid: 4242 })
  t.match(place('createRuntime', 4242, probe({ isRunscSandbox: () => true })), {
    act: 'skip',
    reason: /under runsc, createRuntime runs after the gofer.*register nvidia-procfs-hook as a createContainer hook placed before NVIDIA's hooks/,
  })
  t.match(place('prestart', undefined, probe()), { act: 'skip', reason: /prestart state has no container pid/ })
  t.match(place('prestart', 1, probe()), { act: 'skip', reason: /no container pid/ })
  t.match(place('prestart', 4242, probe({ mountNamespace: () => 'mnt:[1]' })), { act: 'skip', reason: /shares the runtime's mount namespace; refusing/ })
  t.match(place('prestart', 4242, probe({ mountNamespace: pid => (pid === 'self' ? 'mnt:[1]' : undefined) })), { act: 'skip', reason: /process 4242 is gone/ })
})

t.test('the /proc probe on real processes', async t => {
  t.match(procProbe.mountNamespace('self'), /^mnt:\[\d+\]$/)
  t.equal(procProbe.mountNamespace(process.pid), procProbe.mountNamespace('self'))
  t.equal(procProbe.mountNamespace(2 ** 22 + 1), undefined, 'no such pid')
  t.equal(procProbe.isRunscSandbox(process.pid), false)
  t.equal(procProbe.isRunscSandbox(2 ** 22 + 1), false)
  // A process whose executable is named runsc-something counts as gVisor's.
  const dir = t.testdir({})
  await new Promise(res => spawn('/bin/cp', ['/bin/sleep', `${dir}/runsc-sandbox`]).on('exit', res))
  const child = spawn(`${dir}/runsc-sandbox`, ['5'])
  t.teardown(() => child.kill())
  await new Promise(res => child.on('spawn', res))
  t.equal(procProbe.isRunscSandbox(child.pid!), true)
})

t.test('a /proc failure other than "gone" is not mistaken for a vanished process', async t => {
  const eacces = () => {
    throw Object.assign(new Error('permission denied'), { code: 'EACCES' })
  }
  const fs = await import('node:fs')
  const { procProbe: probed } = t.mockRequire<typeof import('../../src/placement')>('../../src/placement', {
    'node:fs': { ...fs, readlinkSync: eacces, readFileSync: eacces },
  })
  t.throws(() => probed.mountNamespace(1), { code: 'EACCES' })
  t.throws(() => probed.isRunscSandbox(1), { code: 'EACCES' })
})
