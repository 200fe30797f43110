// The real runsc's bundle runs (test/e2e/runsc-bundle.ts) and the gofer
// emulation's comparison with it (test/e2e/runsc-gofer.ts) again with the
// util-linux that today's hosts have: 2.41 (trixie) and 2.42 (sid), whose
// libmount attaches our bind through the fd-based API, inside the gofer.
// Each root is entered with pivot_root (test/harness/enter-root.sh; under
// chroot the gofer cannot fork), with the real tools and this machine's
// static busybox (the containers' rootfs) bound in at their own paths.
import t from 'tap'
import { debianRoot, type Suite } from '../harness/debian-root'
import { ROOT_VAR } from '../harness/private-ns'
import { findRealTools, toolDirs } from '../harness/real-tools'

// A root is built the first time (minutes); each run, seconds.
t.setTimeout(1_200_000)

// Assertions count, coverage does not (test/system/util-linux.ts says why).
const { NODE_V8_COVERAGE: _, ...env } = process.env

const tools = findRealTools()
if (typeof tools === 'string') t.plan(0, tools)
else {
  const binds = [...toolDirs(tools), '/bin/busybox'].join(':')
  for (const suite of ['trixie', 'sid'] as Suite[]) {
    t.test(`util-linux from ${suite}`, async t => {
      const root = debianRoot(suite)
      for (const file of ['test/e2e/runsc-bundle.ts', 'test/e2e/runsc-gofer.ts']) {
        t.spawn(process.execPath, [...process.execArgv, file], { env: { ...env, [ROOT_VAR]: root, NPH_ROOT_BINDS: binds } }, `${suite}: ${file}`)
      }
    })
  }
}
