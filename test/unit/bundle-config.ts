import t from 'tap'
import { rootfsFromBundle } from '../../src/bundle-config'

const bundle = (config: unknown) =>
  t.testdir({ 'config.json': typeof config === 'string' ? config : JSON.stringify(config) })

t.test('root.path relative to the bundle, or absolute', async t => {
  const b = bundle({ root: { path: 'rootfs' } })
  t.equal(rootfsFromBundle(b), `${b}/rootfs`)
  t.equal(rootfsFromBundle(bundle({ root: { path: '/abs/rootfs', readonly: true } })), '/abs/rootfs')
  const up = bundle({ root: { path: '../x/../rootfs' } })
  t.equal(rootfsFromBundle(up), up.replace(/\/[^/]+$/, '/rootfs'), 'joined and cleaned like filepath.Join')
})

t.test('bad config.json names the file and field', async t => {
  const cases: [unknown, RegExp][] = [
    ['{', /config\.json: not JSON/],
    ['[]', /config\.json: expected a JSON object/],
    ['null', /config\.json: expected a JSON object/],
    [{}, /config\.json: missing "root"/],
    [{ root: null }, /"root\.path" must be a non-empty string/],
    [{ root: { path: '' } }, /"root\.path" must be a non-empty string/],
    [{ root: { path: 5 } }, /"root\.path" must be a non-empty string/],
    [{ root: { path: 'a\u0000' } }, /"root\.path" must be a non-empty string/],
  ]
  for (const [config, msg] of cases) t.throws(() => rootfsFromBundle(bundle(config)), { name: 'HookError', message: msg })
  t.throws(() => rootfsFromBundle(t.testdir({})), { message: /bundle config .*config\.json does not exist/ })
})
