// `npm run demo`: the gVisor failure and its fix, end to end, on this
// machine, with a FAKE driver tree. Runs as root inside a private mount
// namespace of its own; leaves nothing behind.
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { FAKE_DRIVER_LABEL, mountFakeDriver } from '../test/harness/fake-driver'
import { ourHook } from '../src/registration'

const EXE = resolve('dist/nvidia-procfs-hook')
const GOFER = resolve('test/harness/gofer-emulation.mjs')
const STAND_IN = resolve('test/harness/nvidia-hook-stand-in.mjs')
const say = (s = '') => process.stdout.write(s + '\n')

if (process.getuid?.() !== 0) {
  say('npm run demo needs root (it mounts, inside a private mount namespace of its own).')
  process.exit(1)
}
if (process.env.NVIDIA_PROCFS_HOOK_DEMO !== 'inside') {
  const res = spawnSync('/usr/bin/unshare', ['-m', '--propagation', 'private', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, NVIDIA_PROCFS_HOOK_DEMO: 'inside' },
  })
  process.exit(res.status ?? 1)
}

say('== nvidia-procfs-hook demo (private mount namespace; the host is not touched) ==')
say()
say(`1. A FAKE NVIDIA driver: a tmpfs over /proc/driver holding a look-alike tree (label "${FAKE_DRIVER_LABEL}").`)
mountFakeDriver()
say(`   /proc/driver/nvidia/version: ${readFileSync('/proc/driver/nvidia/version', 'utf8').split('\n')[0]}`)
say(`   /proc/driver/nvidia/params has: ${/^ModifyDeviceFiles: .*$/m.exec(readFileSync('/proc/driver/nvidia/params', 'utf8'))?.[0]}`)

const bundle = mkdtempSync(join(tmpdir(), 'nph-demo-'))
mkdirSync(join(bundle, 'rootfs/proc'), { recursive: true })
mkdirSync(join(bundle, 'rootfs/run'))
const nvidiaHook = { path: STAND_IN, args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] }
const ourEntry = ourHook({ binary: EXE })

const runGofer = (hooks: object[]) => {
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, hooks: { createContainer: hooks } }, null, 2))
  const res = spawnSync(process.execPath, [GOFER, bundle, 'demo'], { encoding: 'utf8', env: { ...process.env, GOFER_EMULATION_VERBOSE: '1' } })
  for (const line of res.stderr.trim().split('\n')) say(`   ${line}`)
  return { status: res.status, report: JSON.parse(res.stdout) }
}

say()
say(`2. A container bundle at ${bundle}; its rootfs has an empty proc/ as gVisor's gofer sees it.`)
say('   The gofer (emulated: test/harness/gofer-emulation.mjs) runs the CDI createContainer hooks:')
say('   [ nvidia-ctk hook disable-device-node-modification ]  (stand-in: test/harness/nvidia-hook-stand-in.mjs)')
const before = runGofer([nvidiaHook])
say(`   -> gofer exit ${before.status}: the pod would never start.`)

say()
say('3. The same, with nvidia-procfs-hook registered before NVIDIA\'s hook:')
say(`   [ ${EXE} hook --stage createContainer, nvidia-ctk hook disable-device-node-modification ]`)
const after = runGofer([ourEntry, nvidiaHook])
say(`   -> gofer exit ${after.status}.`)
say(`   gofer root /proc/driver/nvidia/params now has: ${/^ModifyDeviceFiles: .*$/m.exec(after.report.params ?? '')?.[0]}`)
for (const m of after.report.mounts ?? []) say(`   mounted in the gofer's namespace: ${m.mountPoint} (${m.options})`)

say()
const left = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter(l => l.includes(bundle))
say(`4. After the gofer exits: ${left.length} mounts left under the bundle; host params still say ${/^ModifyDeviceFiles: .*$/m.exec(readFileSync('/proc/driver/nvidia/params', 'utf8'))?.[0]}.`)
rmSync(bundle, { recursive: true })
say('   Cleaned up. (The fake driver tmpfs vanishes with this namespace.)')
// runsc's gofer exits 128 when a hook fails (test/harness/gofer-emulation.mjs).
process.exit(before.status === 128 && after.status === 0 && left.length === 0 ? 0 : 1)
