import t from 'tap'
import { sanitizeEnv } from '../../src/sanitize-env'

t.test('strips what loads code or writes files, keeps the rest', async t => {
  const env = {
    NODE_OPTIONS: '--require /x.js',
    NODE_REPL_HISTORY: '/h',
    UV_THREADPOOL_SIZE: '1',
    OPENSSL_CONF: '/c',
    SSL_CERT_FILE: '/f',
    LD_PRELOAD: '/x.so',
    LIBMOUNT_DEBUG: 'all',
    GCONV_PATH: '/g',
    GLIBC_TUNABLES: 'x',
    PATH: '/rootfs/bin',
    DEBUG: 'nvidia-procfs-hook:*',
    TZ: 'UTC',
    GCONV_PATHS: 'not the one',
  }
  let stopped = 0
  sanitizeEnv(env, () => stopped++)
  t.same(env, { PATH: '/rootfs/bin', DEBUG: 'nvidia-procfs-hook:*', TZ: 'UTC', GCONV_PATHS: 'not the one' })
  t.equal(stopped, 0, 'coverage left alone when not asked for')
})

t.test('NODE_V8_COVERAGE: collection stopped, so nothing is written at exit', async t => {
  const env: NodeJS.ProcessEnv = { NODE_V8_COVERAGE: '/tmp/cov' }
  let stopped = 0
  sanitizeEnv(env, () => stopped++)
  t.equal(stopped, 1)
  t.same(env, {})
})
