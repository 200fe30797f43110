import t from 'tap'
import { readFileSync, symlinkSync, statSync } from 'node:fs'
import { debugFor, enableDebug, openRunLog, type RunRecord } from '../../src/log'

const record: RunRecord = { time: '2026-11-26T00:00:00.000Z', id: 'c1', action: 'skipped', reason: 'r', exitCode: 0, durationMs: 1.5 }

const noWarn = (line: string) => {
  throw new Error(`unexpected warning: ${line}`)
}

t.test('appends one JSON line per run', async t => {
  const dir = t.testdir({})
  openRunLog(`${dir}/log`, noWarn)?.write(record)
  openRunLog(`${dir}/log`, noWarn)?.write({ ...record, id: 'c2' })
  const lines = readFileSync(`${dir}/log`, 'utf8').split('\n')
  t.same(lines.slice(0, 2).map(l => JSON.parse(l).id), ['c1', 'c2'])
  t.equal(lines[2], '')
  t.equal(statSync(`${dir}/log`).mode & 0o777, 0o640 & ~process.umask())
})

t.test('never follows a symlink planted at the log path: one warning, no log', async t => {
  const dir = t.testdir({ target: 'keep' })
  symlinkSync(`${dir}/target`, `${dir}/log`)
  const warnings: string[] = []
  t.equal(openRunLog(`${dir}/log`, l => warnings.push(l)), undefined)
  t.same(warnings, [`nvidia-procfs-hook: warning: cannot open log file ${dir}/log: ELOOP; this run is not logged`])
  t.equal(readFileSync(`${dir}/target`, 'utf8'), 'keep')
})

t.test('a log that cannot be opened is one warning, never an error', async t => {
  const dir = t.testdir({ sub: {} })
  const warnings: string[] = []
  t.equal(openRunLog(`${dir}/absent/log`, l => warnings.push(l)), undefined)
  t.equal(openRunLog(`${dir}/sub`, l => warnings.push(l)), undefined)
  t.same(warnings, [
    `nvidia-procfs-hook: warning: cannot open log file ${dir}/absent/log: ENOENT; this run is not logged`,
    `nvidia-procfs-hook: warning: cannot open log file ${dir}/sub: EISDIR; this run is not logged`,
  ])
})

t.test('a write that fails is a warning: the verdict stands', async t => {
  const warnings: string[] = []
  openRunLog('/dev/full', l => warnings.push(l))?.write(record)
  t.same(warnings, ['nvidia-procfs-hook: warning: cannot write log file /dev/full: ENOSPC'])
})

t.test('debug is loaded only once tracing is asked for, then writes to stderr', async t => {
  const written: string[] = []
  const write = process.stderr.write
  process.stderr.write = (chunk: string | Uint8Array) => (written.push(String(chunk)), true)
  t.teardown(() => {
    process.stderr.write = write
  })
  const wasDebug = process.env.DEBUG
  delete process.env.DEBUG
  const d = debugFor('unit')
  d('quiet %s', 'x')
  t.same(written, [])
  // A fresh copy of the module: DEBUG alone turns tracing on.
  process.env.DEBUG = 'nvidia-procfs-hook:*'
  const fresh = t.mockRequire<typeof import('../../src/log')>('../../src/log')
  fresh.debugFor('env')('from %s', 'DEBUG')
  if (wasDebug === undefined) delete process.env.DEBUG
  else process.env.DEBUG = wasDebug
  enableDebug()
  d('loud %s', 'y')
  t.match(written.join(''), /nvidia-procfs-hook:env from DEBUG/)
  t.match(written.join(''), /nvidia-procfs-hook:unit loud y/)
  t.notMatch(written.join(''), /quiet/)
})
