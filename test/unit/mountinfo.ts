import t from 'tap'
import { openSync, closeSync } from 'node:fs'
import { missingOptions, mountIdOfFd, parseMountinfo, readMountinfo } from '../../src/mountinfo'

const SAMPLE = [
  '22 27 0:21 / /proc rw,relatime shared:12 - proc proc rw',
  '64 43 0:39 /nvidia /tmp/b\\040x/rootfs/proc/driver/nvidia ro,nosuid,nodev,noexec,relatime master:3 - tmpfs fake\\011driver rw,mode=555',
  '65 43 0:40 / /tmp/no-optional rw - tmpfs tmpfs rw',
  '',
].join('\n')

t.test('parses fields, optional fields and octal escapes', async t => {
  const [proc, bind, plain] = parseMountinfo(SAMPLE)
  t.match(proc, { id: 22, parentId: 27, device: '0:21', root: '/', mountPoint: '/proc', fsType: 'proc', source: 'proc', propagation: ['shared:12'] })
  t.match(bind, {
    id: 64,
    root: '/nvidia',
    mountPoint: '/tmp/b x/rootfs/proc/driver/nvidia',
    options: ['ro', 'nosuid', 'nodev', 'noexec', 'relatime'],
    propagation: ['master:3'],
    source: 'fake\tdriver',
  })
  t.same(plain?.propagation, [])
})

t.test('malformed lines are errors, not guesses', async t => {
  t.throws(() => parseMountinfo('22 27 0:21 / /proc rw\n'), /malformed mountinfo line/)
  t.throws(() => parseMountinfo('22 27 0:21 / - proc\n'), /malformed mountinfo line/)
})

t.test('missingOptions names what a read-only bind lacks', async t => {
  const [proc, bind] = parseMountinfo(SAMPLE)
  t.same(missingOptions(bind!), [])
  t.same(missingOptions(proc!), ['ro', 'nosuid', 'nodev', 'noexec'])
})

t.test('reads this process\'s table and the mount of an fd', async t => {
  const table = readMountinfo()
  const root = table.find(m => m.mountPoint === '/')
  t.ok(root, 'has a root mount')
  const fd = openSync('/', 'r')
  t.equal(mountIdOfFd(fd), root!.id)
  closeSync(fd)
  t.throws(() => mountIdOfFd(987654), { code: 'ENOENT' })
})

t.test('an fdinfo without mnt_id (kernels before 3.15) is an error, not mount 0', async t => {
  const fs = await import('node:fs')
  const { mountIdOfFd: probe } = t.mockRequire<typeof import('../../src/mountinfo')>('../../src/mountinfo', {
    'node:fs': { ...fs, readFileSync: () => 'pos:\t0\nflags:\t010000000\n' },
  })
  t.throws(() => probe(3), { message: 'no mnt_id in /proc/self/fdinfo/3' })
})
