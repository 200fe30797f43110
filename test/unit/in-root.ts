import t from 'tap'
import { closeSync, statSync, symlinkSync, type Stats } from 'node:fs'
import { createDirEntry, describeKind, openDirEntry, openEntry, openRoot, removeDirEntry } from '../../src/in-root'

const kind = (is: keyof Stats) =>
  ({
    isDirectory: () => is === 'isDirectory',
    isSymbolicLink: () => is === 'isSymbolicLink',
    isFile: () => is === 'isFile',
    isFIFO: () => is === 'isFIFO',
    isSocket: () => is === 'isSocket',
    isBlockDevice: () => is === 'isBlockDevice',
  }) as unknown as Stats

t.test('describeKind names every file type', async t => {
  t.same(
    (['isDirectory', 'isSymbolicLink', 'isFile', 'isFIFO', 'isSocket', 'isBlockDevice', 'isCharacterDevice'] as const).map(k => describeKind(kind(k))),
    ['a directory', 'a symlink', 'a regular file', 'a fifo', 'a socket', 'a block device', 'a character device'],
  )
})

t.test('opening the rootfs', async t => {
  const dir = t.testdir({ file: 'x', sub: {} })
  symlinkSync(`${dir}/sub`, `${dir}/link`)
  symlinkSync(`${dir}/loop`, `${dir}/loop`)
  const viaLink = openRoot(`${dir}/link`)
  t.ok(viaLink.stat.isDirectory(), 'a symlink in the runtime-given path is followed')
  closeSync(viaLink.fd)
  t.throws(() => openRoot(`${dir}/none`), { message: `rootfs ${dir}/none does not exist` })
  t.throws(() => openRoot(`${dir}/file`), { message: `rootfs ${dir}/file is not a directory` })
  t.throws(() => openRoot(`${dir}/loop`), { message: `cannot open rootfs ${dir}/loop: ELOOP` })
})

t.test('entries are opened without following symlinks', async t => {
  const dir = t.testdir({ file: 'x', sub: {} })
  symlinkSync('/', `${dir}/abs`)
  const root = openRoot(dir)
  t.teardown(() => closeSync(root.fd))
  const link = openEntry(root.fd, 'abs')
  t.ok(link?.stat.isSymbolicLink(), 'the link itself, not /')
  closeSync(link!.fd)
  t.equal(openEntry(root.fd, 'none'), undefined)
  t.throws(() => openEntry(root.fd, 'x'.repeat(300)), { code: 'ENAMETOOLONG' }, 'other errors are not "missing"')
  t.throws(() => openDirEntry(root.fd, 'abs', '<rootfs>/abs'), { message: '<rootfs>/abs is a symlink, not a directory; refusing to use it' })
  t.throws(() => openDirEntry(root.fd, 'file', '<rootfs>/file'), { message: '<rootfs>/file is a regular file, not a directory; refusing to use it' })
})

t.test('created directories are 0555 whatever the umask, and removable', async t => {
  const dir = t.testdir({ exists: {} })
  const root = openRoot(dir)
  t.teardown(() => closeSync(root.fd))
  const old = process.umask(0o777)
  let made
  try {
    made = createDirEntry(root.fd, 'proc', '<rootfs>/proc')
  } finally {
    process.umask(old)
  }
  t.equal(statSync(`${dir}/proc`).mode & 0o7777, 0o555)
  t.throws(() => createDirEntry(root.fd, 'exists', '<rootfs>/exists'), { message: 'cannot create <rootfs>/exists: EEXIST' })
  removeDirEntry(root.fd, 'proc', made.stat)
  closeSync(made.fd)
  t.throws(() => statSync(`${dir}/proc`), { code: 'ENOENT' })
  t.doesNotThrow(() => removeDirEntry(root.fd, 'proc', made.stat), 'already gone is fine')
  removeDirEntry(root.fd, 'exists', made.stat)
  t.ok(statSync(`${dir}/exists`).isDirectory(), 'a directory that is not the one this run made stays')
})
