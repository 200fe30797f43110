import { spawnSync } from 'node:child_process'

const MARK = 'NVIDIA_PROCFS_HOOK_TEST_NS'

/**
 * Re-runs the calling test file inside its own private mount namespace
 * (`unshare -m --propagation private`), so every mount it makes dies with
 * it and the machine is left as found. The child inherits tap's
 * environment, so its TAP output and coverage reach tap as if it had run
 * directly. Returns only in the child.
 */
export const enterPrivateMountNamespace = (): void => {
  if (process.env[MARK] === 'entered') return
  const res = spawnSync(
    '/usr/bin/unshare',
    ['-m', '--propagation', 'private', process.execPath, ...process.execArgv, ...process.argv.slice(1)],
    { stdio: 'inherit', env: { ...process.env, [MARK]: 'entered' } },
  )
  process.exit(res.status ?? 1)
}
