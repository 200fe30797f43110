import t from 'tap'
import { errorCode, errorText, HookError, UsageError } from '../../src/errors'

t.test('HookError defaults to exit 1, UsageError is exit 2', async t => {
  t.equal(new HookError('x').exitCode, 1)
  t.equal(new HookError('x', 3).exitCode, 3)
  const u = new UsageError('bad flag')
  t.equal(u.exitCode, 2)
  t.ok(u instanceof HookError)
  t.equal(u.name, 'UsageError')
  t.equal(u.message, 'bad flag')
})

t.test('errorCode reads only string codes of errors', async t => {
  t.equal(errorCode(Object.assign(new Error('x'), { code: 'ENOENT' })), 'ENOENT')
  t.equal(errorCode(Object.assign(new Error('x'), { code: 5 })), undefined)
  t.equal(errorCode(new Error('x')), undefined)
  t.equal(errorCode({ code: 'ENOENT' }), undefined, 'not an Error')
  t.equal(errorCode(undefined), undefined)
})

t.test('errorText prefers the code, then the message', async t => {
  t.equal(errorText(Object.assign(new Error('no such file'), { code: 'ENOENT' })), 'ENOENT')
  t.equal(errorText(new Error('plain')), 'plain')
  t.equal(errorText('thrown string'), 'thrown string')
})
