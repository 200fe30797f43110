import t from 'tap'
import { spawn } from 'node:child_process'
import { closeSync, constants, openSync } from 'node:fs'
import { readFdBounded, readFileBounded } from '../../src/read-bounded'

t.test('reads a file whole', async t => {
  const dir = t.testdir({ 'a.json': 'x'.repeat(200_000) })
  t.equal(readFileBounded(`${dir}/a.json`, 'state file').length, 200_000)
})

t.test('refuses input past the limit without reading it all', async t => {
  t.throws(() => readFileBounded('/dev/zero', 'state file', 1000), { message: 'state file /dev/zero is larger than 1000 bytes' })
})

t.test('missing and unreadable files', async t => {
  const dir = t.testdir({ file: 'x' })
  t.throws(() => readFileBounded(`${dir}/none`, 'state file'), { message: `state file ${dir}/none does not exist` })
  t.throws(() => readFileBounded(`${dir}/file/x`, 'state file'), { message: /cannot open state file .*: ENOTDIR/ })
  t.throws(() => readFileBounded(dir, 'state file'), { message: /cannot read state file .*EISDIR/ })
})

t.test('a non-blocking pipe with a slow writer is waited for, not cut short', async t => {
  const dir = t.testdir({})
  const fifo = `${dir}/fifo`
  await new Promise(res => spawn('/usr/bin/mkfifo', [fifo]).on('exit', res))
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK)
  const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK)
  const child = spawn('/bin/sh', ['-c', 'sleep 0.2; printf "{}" >&3'], { stdio: ['ignore', 'ignore', 'ignore', writer] })
  closeSync(writer)
  await new Promise(res => child.on('spawn', res))
  t.equal(readFdBounded(reader, 'state on stdin'), '{}')
  closeSync(reader)
})
