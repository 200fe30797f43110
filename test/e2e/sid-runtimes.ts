// Today's runtimes: test/e2e/podman.ts again, inside the cached Debian sid
// root (test/harness/debian-root.ts), so with podman 5.8, runc 1.3 and crun
// 1.28 instead of Debian 12's 4.3, 1.1 and 1.8. (test/e2e/containerd.ts
// enters the sid root by itself.)
import t from 'tap'
import { debianRoot } from '../harness/debian-root'
import { ROOT_VAR } from '../harness/private-ns'

t.setTimeout(900_000)

// Assertions count, coverage does not (test/system/util-linux.ts says why).
const { NODE_V8_COVERAGE: _, ...env } = process.env

t.test('podman, runc and crun from Debian sid', async t => {
  const root = debianRoot('sid')
  t.spawn(process.execPath, [...process.execArgv, 'test/e2e/podman.ts'], { env: { ...env, [ROOT_VAR]: root } }, 'sid: test/e2e/podman.ts')
})
