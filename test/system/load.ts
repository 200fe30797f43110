// Load: many hooks at once through the executable. 64 containers at once
// must get one read-only mount each; 16 runs on one container at once must
// leave exactly one (the flock on the rootfs serialises them).
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
// Before the re-run: tap's default 30 s would kill the outer process mid-suite.
t.setTimeout(180_000)
enterPrivateMountNamespace()

import { assertOurMount, gvisorState, mountsIn, runHookAsync, snapshot, SOURCE, type HookRun } from '../harness/containment'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { scratchBundle } from '../harness/scratch'

mountFakeDriver()
t.teardown(unmountFakeDriver)

const CONTAINERS = Number(process.env.NPH_LOAD_CONTAINERS ?? 64)
const SAME = Number(process.env.NPH_LOAD_SAME ?? 16)
const ROUNDS = Number(process.env.NPH_LOAD_ROUNDS ?? 3)

const tally = (runs: HookRun[]) => {
  const by: Record<string, number> = {}
  for (const r of runs) {
    const k = `exit ${r.status}${r.stderr ? `: ${r.stderr.trim().replace(/\/\S*/g, 'PATH')}` : ''}`
    by[k] = (by[k] ?? 0) + 1
  }
  return by
}

t.test(`${CONTAINERS} hooks for ${CONTAINERS} containers at once: one read-only mount each, all exit 0`, async t => {
  const bundles = Array.from({ length: CONTAINERS }, () => scratchBundle(t))
  const before = snapshot('/nonexistent-nph', [SOURCE])
  const began = Date.now()
  const runs = await Promise.all(bundles.map((b, i) => runHookAsync(['--stage', 'createContainer'], gvisorState(b.bundle, `load-${i}`))))
  t.comment(`${CONTAINERS} concurrent runs in ${Date.now() - began} ms: ${JSON.stringify(tally(runs))}`)
  t.same(tally(runs), { 'exit 0': CONTAINERS }, 'all exit 0, silently')
  for (const b of bundles) {
    const ms = mountsIn(b.rootfs)
    t.equal(ms.length, 1, `${b.rootfs}: one mount`)
    if (ms[0]) assertOurMount(t, ms[0], b.rootfs)
  }
  const after = snapshot('/nonexistent-nph', [SOURCE])
  t.same(after.trees, before.trees, 'the host driver tree untouched')
  t.equal(after.mountsOutside.length - before.mountsOutside.length, CONTAINERS, 'no mount but the one per container')
})

for (let round = 0; round < ROUNDS; round++) {
  t.test(`round ${round}: ${SAME} runs for the same container at once: exactly one mount, all exit 0`, async t => {
    const b = scratchBundle(t)
    const runs = await Promise.all(Array.from({ length: SAME }, () => runHookAsync(['--rootfs', b.rootfs])))
    const by = tally(runs)
    t.comment(JSON.stringify(by))
    t.ok(runs.every(r => r.status === 0), 'all exit 0')
    t.equal(runs.filter(r => /: mounted: /.test(r.stderr)).length, 1, 'one run mounted')
    t.equal(runs.filter(r => /: skipped: .*params already exists/.test(r.stderr)).length, SAME - 1, 'the others found it done')
    const ms = mountsIn(b.rootfs)
    t.equal(ms.length, 1, 'exactly one mount')
    if (ms[0]) assertOurMount(t, ms[0], b.rootfs)
  })
}
