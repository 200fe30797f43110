import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'

/**
 * containerd (sid's 2.1) with all its state under `dir`, started by this
 * test and stopped by pid at teardown: the native snapshotter (no overlay
 * needed), CDI on for the CRI with `specDirs`, runc and crun as runtimes
 * (crun through runc.v2's BinaryName), no CNI (pods use the host network),
 * and `restrict_oom_score_adj` (no CAP_SYS_RESOURCE here; runtimes.md);
 * `extra` is TOML appended to its config (more runtimes). Only inside a
 * private mount namespace.
 */
export const startContainerd = async (t: Test, dir: string, specDirs: string[], sandboxImage: string, extra = '') => {
  mkdirSync(dir, { recursive: true })
  const address = join(dir, 'containerd.sock')
  const config = join(dir, 'config.toml')
  const runtime = (binary: string) => `
[plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.${binary}]
  runtime_type = 'io.containerd.runc.v2'
  [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.${binary}.options]
    BinaryName = '/usr/bin/${binary}'
`
  writeFileSync(
    config,
    `version = 3
root = '${dir}/root'
state = '${dir}/state'
[grpc]
  address = '${address}'
[plugins.'io.containerd.cri.v1.runtime']
  enable_cdi = true
  cdi_spec_dirs = [${specDirs.map(d => `'${d}'`).join(', ')}]
  restrict_oom_score_adj = true
[plugins.'io.containerd.cri.v1.runtime'.containerd]
  default_runtime_name = 'runc'
${runtime('runc')}${runtime('crun')}
[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'native'
[plugins.'io.containerd.cri.v1.images'.pinned_images]
  sandbox = '${sandboxImage}'
${extra}`,
  )
  const child: ChildProcess = spawn('/usr/bin/containerd', ['--config', config, '--log-level', 'warn'], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' },
  })
  let log = ''
  child.stderr?.on('data', d => (log += d))
  t.teardown(async () => {
    if (child.exitCode !== null) return
    child.kill('SIGTERM')
    await new Promise(r => child.on('exit', r))
  })
  for (let i = 0; i < 200 && !existsSync(address); i++) await new Promise(r => setTimeout(r, 50))
  if (!existsSync(address)) throw new Error(`containerd did not start: ${log}`)
  const ctr = (...args: string[]) => spawnSync('/usr/bin/ctr', ['--address', address, '--namespace', 'k8s.io', ...args], { encoding: 'utf8', timeout: 60_000 })
  return { address, ctr, log: () => log }
}
