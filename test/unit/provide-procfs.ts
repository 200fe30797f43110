import t from 'tap'

// The kernel-facing behaviour is in test/system/provide-procfs.ts; this is
// the one error path no real filesystem produces for root.
t.test('an lstat failure other than "missing" is reported, not taken for "absent"', async t => {
  const fs = await import('node:fs')
  const dir = t.testdir({ rootfs: { proc: { driver: { nvidia: {} } } }, source: { params: '' } })
  const { provideProcfs } = t.mockRequire<typeof import('../../src/provide-procfs')>('../../src/provide-procfs', {
    'node:fs': {
      ...fs,
      lstatSync: (p: string) => {
        if (p.endsWith('/params')) throw Object.assign(new Error('permission denied'), { code: 'EACCES' })
        return fs.lstatSync(p)
      },
    },
  })
  t.throws(() => provideProcfs({ rootfs: `${dir}/rootfs`, source: `${dir}/source`, dryRun: true }), { code: 'EACCES' })
})

t.test('a source that is not a directory, or cannot be looked at', async t => {
  const { statSource } = await import('../../src/provide-procfs')
  const dir = t.testdir({ file: 'x' })
  t.equal(statSource(`${dir}/none`), undefined, 'absent: no driver')
  t.throws(() => statSource(`${dir}/file`), { name: 'HookError', message: `source ${dir}/file is not a directory` })
  t.throws(() => statSource(`${dir}/file/x`), { name: 'HookError', message: `cannot stat source ${dir}/file/x: ENOTDIR` })
})
