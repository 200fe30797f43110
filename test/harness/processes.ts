import { spawn, type ChildProcess } from 'node:child_process'
import { readlinkSync } from 'node:fs'
import type { Test } from 'tap'

/**
 * A process in a mount namespace of its own (copied from ours), standing in
 * for a container's init at prestart/createRuntime time; with `unchanged`
 * propagation its copies of our shared mounts stay their peers, as in a
 * namespace copied from a systemd host; on `cpu` when given. Killed, by pid,
 * at teardown.
 */
export const processInOwnMountNamespace = async (t: Test, propagation: 'private' | 'unchanged' = 'private', cpu?: number): Promise<number> => {
  const unshare = ['/usr/bin/unshare', '-m', '--propagation', propagation, '/bin/sleep', '600']
  const [cmd, ...args] = cpu === undefined ? unshare : ['/usr/bin/taskset', '-c', String(cpu), ...unshare]
  const child: ChildProcess = spawn(cmd as string, args, { stdio: 'ignore' })
  t.teardown(() => {
    child.kill('SIGKILL')
  })
  await new Promise(res => child.on('spawn', res))
  const pid = child.pid as number
  // unshare execs sleep once the namespace exists; wait for that.
  for (let i = 0; i < 200 && readlinkSync(`/proc/${pid}/ns/mnt`) === readlinkSync('/proc/self/ns/mnt'); i++) {
    await new Promise(res => setTimeout(res, 5))
  }
  return pid
}
