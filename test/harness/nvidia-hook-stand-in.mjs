#!/usr/bin/env node
// A stand-in for NVIDIA's `nvidia-ctk hook disable-device-node-modification`
// (also callable as `nvidia-cdi-hook disable-device-node-modification`),
// written from its documented behaviour (shared/reference/nvidia.md "NVIDIA's
// real hook, in detail", toolkit v1.20), not from its code. Each point is
// pinned by test/system/nvidia-hook-stand-in.ts:
//   the host's params first, before stdin: missing, `ModifyDeviceFiles: 0`
//   or no exact `ModifyDeviceFiles: 1` line: exit 0; then the state (crun's
//   `root: ""` counts as absent; a config.json without `root` means the
//   bundle); a scratch dir <root>/run/nvidia-ctk-hook<uuid> made inside the
//   root (a missing `run` created, an escape refused, EROFS reported); a
//   tmpfs there sized to the text, holding `nvct-params` with \n line ends,
//   never unmounted; the target resolved inside the root and checked by
//   readlink of its O_PATH fd; one bind, read-write in fact. Errors are
//   logrus lines, exit 1; an unknown hook name: `Unsupported CDI hook`, exit 0.
import { spawnSync } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { closeSync, lstatSync, mkdirSync, openSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve } from 'node:path'

const O_PATH = 0o10000000
const log = (level, msg) => process.stderr.write(`time="${new Date().toISOString()}" level=${level} msg=${JSON.stringify(msg)}\n`)
const fail = msg => {
  log('error', msg)
  process.exit(1)
}
const args = process.argv.slice(2)
const sub = args[0] === 'hook' ? args[1] : args[0]
if (sub !== 'disable-device-node-modification') {
  log('info', `Unsupported CDI hook: ${sub}`)
  process.exit(0)
}

// 1. The host's params, read in the hook's own mount namespace, before stdin.
let params
try {
  params = readFileSync('/proc/driver/nvidia/params', 'utf8')
} catch (er) {
  if (er.code === 'ENOENT') process.exit(0)
  throw er
}
if (!/^ModifyDeviceFiles: 1$/m.test(params)) process.exit(0)

// 2. The container root: crun's state "root" unless empty, else config.json
// root.path (relative to the bundle), else the bundle itself.
let state
try {
  const text = readFileSync(0, 'utf8')
  if (text.trim() === '') throw new Error('EOF')
  state = JSON.parse(text)
} catch (er) {
  fail(`failed to load container state: failed to decode container state: ${er.message === 'EOF' ? 'EOF' : er.message}`)
}
let root = state.root || undefined
if (root === undefined) root = JSON.parse(readFileSync(join(state.bundle, 'config.json'), 'utf8')).root?.path ?? state.bundle
if (!isAbsolute(root)) root = join(state.bundle, root)

/** Resolves `rel` inside `root` as securejoin does: symlinks followed, but kept inside; undefined on an escape. */
const inRoot = rel => {
  let at = root
  for (const part of rel.split('/').filter(Boolean)) {
    const next = join(at, part)
    let st
    try {
      st = lstatSync(next)
    } catch {
      at = next
      continue
    }
    if (!st.isSymbolicLink()) {
      at = next
      continue
    }
    const target = readlinkSync(next)
    at = isAbsolute(target) ? join(root, target) : resolve(at, target)
    if (relative(root, at).startsWith('..')) return undefined
  }
  return at
}

// 3. The modified params on a tmpfs in a scratch dir made inside the root.
const scratchRel = `run/nvidia-ctk-hook${randomUUID()}`
const scratch = inRoot(scratchRel)
if (scratch === undefined) fail(`error creating hook scratch folder: mkdirat ${join(root, scratchRel)}: path escapes from parent`)
try {
  // One level at a time (Node's recursive mkdir reports EROFS as ENOENT).
  for (const dir of [dirname(scratch), scratch]) {
    try {
      mkdirSync(dir, 0o755)
    } catch (er) {
      if (er.code !== 'EEXIST') throw er
    }
  }
} catch (er) {
  fail(`error creating hook scratch folder: mkdirat ${scratch}: ${er.code === 'EROFS' ? 'read-only file system' : er.message}`)
}
const text = params.replace(/\r\n?/g, '\n').replace(/^ModifyDeviceFiles: 1$/m, 'ModifyDeviceFiles: 0')
const tmpfs = spawnSync('/usr/bin/mount', ['-t', 'tmpfs', '-o', `mode=0755,size=${Buffer.byteLength(text)}`, 'tmpfs', scratch], { encoding: 'utf8' })
if (tmpfs.status !== 0) fail(`failed to create tmpfs: ${tmpfs.stderr.trim()}`)
const modified = join(scratch, 'nvct-params')
writeFileSync(modified, text, { mode: 0o444 })

// 4. Open the target O_PATH inside the root and insist that it resolved to
// exactly the expected path (no symlink on the way), then bind onto the fd.
const target = inRoot('proc/driver/nvidia/params') ?? join(root, 'proc/driver/nvidia/params')
let fd
try {
  fd = openSync(target, O_PATH)
} catch (er) {
  const why = er.code === 'ENOENT' ? 'no such file or directory' : er.code
  fail(`failed to mount modified params file: open o_path procfd: open ${target}: ${why}`)
}
const expected = join(root, 'proc/driver/nvidia/params')
if (readlinkSync(`/proc/thread-self/fd/${fd}`) !== expected) {
  fail(`failed to mount modified params file: possibly malicious path detected -- refusing to operate on ${expected}`)
}
// NVIDIA's hook calls mount(2) itself; libmount's fd-based API (util-linux
// >= 2.39) would refuse a final magic link, so force the classic call.
const bind = spawnSync('/usr/bin/mount', ['--no-canonicalize', '--bind', modified, '/proc/self/fd/3'], {
  stdio: ['ignore', 'pipe', 'pipe', fd],
  env: { ...process.env, LIBMOUNT_FORCE_MOUNT2: 'always' },
  encoding: 'utf8',
})
closeSync(fd)
if (bind.status !== 0) fail(`failed to mount modified params file: ${bind.stderr.trim()}`)
