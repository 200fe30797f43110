#!/usr/bin/env node
// A stand-in for NVIDIA's `nvidia-ctk hook disable-device-node-modification`
// (also callable as `nvidia-cdi-hook disable-device-node-modification`),
// written from its documented behaviour (shared/reference/nvidia.md), not
// from its code. It is what our hook exists to make succeed.
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { closeSync, mkdirSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'

const O_PATH = 0o10000000
const fail = msg => {
  process.stderr.write(`${msg}\n`)
  process.exit(1)
}
const args = process.argv.slice(2)
const sub = args[0] === 'hook' ? args[1] : args[0]
if (sub !== 'disable-device-node-modification') fail(`stand-in: unsupported hook ${JSON.stringify(args)}`)

// 1. The host's params, read in the hook's own mount namespace.
let params
try {
  params = readFileSync('/proc/driver/nvidia/params', 'utf8')
} catch (er) {
  if (er.code === 'ENOENT') process.exit(0)
  throw er
}
if (!/^ModifyDeviceFiles: 1$/m.test(params)) process.exit(0)

// 2. The container root: crun's state "root", else config.json root.path.
const state = JSON.parse(readFileSync(0, 'utf8'))
let root = state.root
if (root === undefined) root = JSON.parse(readFileSync(join(state.bundle, 'config.json'), 'utf8')).root.path
if (!isAbsolute(root)) root = join(state.bundle, root)

// 3. The modified params on a tmpfs under <root>/run.
const dir = join(root, 'run', `nvidia-ctk-hook${randomUUID()}`)
mkdirSync(dir, { recursive: true, mode: 0o755 })
const mountTmpfs = spawnSync('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'mode=0755,size=16k', 'tmpfs', dir], { encoding: 'utf8' })
if (mountTmpfs.status !== 0) fail(`failed to create tmpfs: ${mountTmpfs.stderr.trim()}`)
const modified = join(dir, 'params')
writeFileSync(modified, params.replace(/^ModifyDeviceFiles: 1$/m, 'ModifyDeviceFiles: 0'), { mode: 0o444 })

// 4. Open the target O_PATH and insist that it resolved to exactly the
// expected path (no symlink on the way), then bind onto the fd.
const target = join(root, 'proc/driver/nvidia/params')
let fd
try {
  fd = openSync(target, O_PATH)
} catch (er) {
  const why = er.code === 'ENOENT' ? 'no such file or directory' : er.code
  fail(`failed to mount modified params file: open o_path procfd: open ${target}: ${why}`)
}
const resolved = readlinkSync(`/proc/thread-self/fd/${fd}`)
if (resolved !== target) fail(`failed to mount modified params file: possibly malicious path detected: ${resolved} != ${target}`)
// NVIDIA's hook calls mount(2) itself; libmount's fd-based API (util-linux
// >= 2.39) would refuse a final magic link, so force the classic call.
const bind = spawnSync('/usr/bin/mount', ['--no-canonicalize', '--bind', modified, '/proc/self/fd/3'], {
  stdio: ['ignore', 'pipe', 'pipe', fd],
  env: { ...process.env, LIBMOUNT_FORCE_MOUNT2: 'always' },
  encoding: 'utf8',
})
closeSync(fd)
if (bind.status !== 0) fail(`failed to mount modified params file: ${bind.stderr.trim()}`)
