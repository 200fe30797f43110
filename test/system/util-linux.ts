// The mount path with each util-linux that hosts run: 2.38 (Debian 12, this
// machine: classic mount(2)) is every other file's own run; here the same
// files run again inside Debian roots with 2.41 (trixie) and 2.42 (sid),
// whose libmount uses the fd-based API. A missing root is built first
// (test/harness/debian-root.ts); one that cannot be built fails the run with
// the reason.
import t from 'tap'
import { debianRoot, type Suite } from '../harness/debian-root'
import { ROOT_VAR } from '../harness/private-ns'

// Building both roots takes a few minutes the first time; each file's run, seconds.
t.setTimeout(1_200_000)

/** The mount-path system cases: every path by which the hook mounts, unmounts or rolls back. */
export const MOUNT_PATH_FILES = [
  'test/system/mount-api.ts',
  'test/system/provide-procfs.ts',
  'test/system/hook.ts',
  'test/system/gofer.ts',
  'test/system/faults.ts',
  'test/system/unmount.ts',
  'test/system/adversarial-race.ts',
  'test/system/doctor.ts',
]

// Their assertions count; their coverage does not: merged with the host
// run's, V8's counts from another root's run of the same file lost lines
// both had run. The branches only these roots take are covered in-process
// too (test/unit/mount.ts, test/system/provide-procfs.ts).
const { NODE_V8_COVERAGE: _, ...env } = process.env

for (const suite of ['trixie', 'sid'] as Suite[]) {
  t.test(`util-linux from ${suite}`, async t => {
    const root = debianRoot(suite)
    for (const file of MOUNT_PATH_FILES) {
      t.spawn(process.execPath, [...process.execArgv, file], { env: { ...env, [ROOT_VAR]: root } }, `${suite}: ${file}`)
    }
  })
}
