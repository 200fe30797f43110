import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { ARCH_VAR, FOREIGN, QEMU_ARCH, sysrootFor, TARGET_ARCH } from './target'

const MARK = 'NVIDIA_PROCFS_HOOK_TEST_NS'

/**
 * Names a Debian root (test/harness/debian-root.ts) whose host tools the
 * calling test file runs with: test/system/util-linux.ts sets it to run the
 * mount-path files with another release's util-linux.
 */
export const ROOT_VAR = 'NPH_DEBIAN_ROOT'

/** Makes a Debian root the namespace's `/`; shared with bench/bench.mjs. */
export const ENTER_ROOT = join(__dirname, 'enter-root.sh')

/** Makes the namespace look like a host of another architecture (test/harness/target.ts). */
export const ENTER_ARCH = join(__dirname, 'enter-arch.sh')
const USERNS_IDS = join(__dirname, 'userns-ids.sh')

/**
 * Re-runs the calling test file inside its own private mount namespace
 * (`unshare -m --propagation private`), so every mount it makes dies with
 * it and the machine is left as found; with a Debian root (`root`, which
 * builds or finds it, or else ROOT_VAR), with that root as its `/` inside
 * the namespace; with ARCH_VAR naming another architecture, inside user,
 * pid and cgroup namespaces of its own too (test/harness/userns-ids.sh: ids
 * 0-65535 are themselves), where that architecture's programs run by path
 * under qemu-user. The child inherits tap's environment, so its
 * TAP output and coverage reach tap as if it had run directly. Returns only
 * in the child.
 */
export const enterPrivateMountNamespace = (root?: () => string): void => {
  if (process.env[MARK] === 'entered') return
  const self = [process.execPath, ...process.execArgv, ...process.argv.slice(1)]
  const rootPath = root ? root() : process.env[ROOT_VAR]
  if (rootPath && FOREIGN) throw new Error(`${ROOT_VAR} and ${ARCH_VAR} together: not supported`)
  const [cmd, ...args] = FOREIGN
    ? ['/bin/sh', USERNS_IDS, '/bin/sh', ENTER_ARCH, QEMU_ARCH[TARGET_ARCH] ?? TARGET_ARCH, sysrootFor(TARGET_ARCH), ...self]
    : ['/usr/bin/unshare', '-m', '--propagation', 'private', ...(rootPath ? ['/bin/sh', ENTER_ROOT, rootPath, process.cwd(), ...self] : self)]
  const res = spawnSync(cmd as string, args, {
    stdio: 'inherit',
    env: { ...process.env, [MARK]: 'entered' },
  })
  process.exit(res.status ?? 1)
}
