import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync } from 'node:child_process'
import { chmodSync, chownSync, mkdtempSync, readdirSync, readFileSync, rmdirSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { identity, replaceFile } from '../../src/atomic-write'

t.test('replaces the content, keeping owner and mode; no temp file left', async t => {
  const dir = t.testdir({ 'spec.yaml': 'old\n' })
  const file = join(dir, 'spec.yaml')
  chownSync(file, 1234, 5678)
  chmodSync(file, 0o2640)
  const before = statSync(file)
  const after = replaceFile(file, 'new\n', before)
  t.equal(readFileSync(file, 'utf8'), 'new\n')
  t.match(statSync(file), { uid: 1234, gid: 5678, mode: before.mode, ino: after.ino })
  t.not(after.ino, before.ino, 'a new file, renamed into place')
  t.equal(identity(after), identity(statSync(file)))
  t.same(readdirSync(dir), ['spec.yaml'])
})

t.test('a file that changed since it was read is left to its writer', async t => {
  const dir = t.testdir({ 'spec.json': '{}' })
  const file = join(dir, 'spec.json')
  const before = statSync(file)
  writeFileSync(file, '{"rewritten": true}')
  t.throws(() => replaceFile(file, 'ours', before), { message: `${file} changed while it was being rewritten; left as its writer made it` })
  t.equal(readFileSync(file, 'utf8'), '{"rewritten": true}')
  t.same(readdirSync(dir), ['spec.json'])
})

t.test('failures remove the temp file and leave the original', async t => {
  const dir = t.testdir({ 'd.yaml': {}, 'ok.yaml': 'x' })
  const asDir = join(dir, 'd.yaml')
  t.throws(() => replaceFile(asDir, 'x', statSync(asDir)), { message: `cannot replace ${asDir}: EISDIR` }, 'rename fails')
  t.same(readdirSync(dir).sort(), ['d.yaml', 'ok.yaml'])
  const nowhere = join(dir, 'missing/spec.yaml')
  t.throws(() => replaceFile(nowhere, 'x', statSync(join(dir, 'ok.yaml'))), { message: `cannot replace ${nowhere}: ENOENT` }, 'open fails')

  // A full filesystem: the write fails with the temp file open.
  const small = mkdtempSync(join(tmpdir(), 'nph-atomic-'))
  execFileSync('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'size=8k', 'nph-atomic-test', small])
  t.teardown(() => {
    execFileSync('/usr/bin/umount', [small])
    rmdirSync(small)
  })
  const file = join(small, 'spec.yaml')
  writeFileSync(file, 'original\n')
  t.throws(() => replaceFile(file, 'x'.repeat(64 * 1024), statSync(file)), { message: `cannot replace ${file}: ENOSPC` })
  t.equal(readFileSync(file, 'utf8'), 'original\n')
  t.same(readdirSync(small), ['spec.yaml'])
})
