#!/usr/bin/env node
// Emulates what gVisor's gofer does around CDI createContainer hooks
// (runsc/cmd/sandboxsetup/gofer_mount.go, as summarised in
// shared/reference/runtimes.md), for a runsc too new to run here:
//   own mount/pid/ipc/uts namespaces; `/` made MS_SLAVE|MS_REC; a tmpfs at
//   /proc/fs as the gofer root; the rootfs self-bound (MS_BIND|MS_REC) and
//   given linux.rootfsPropagation (default rslave); the createContainer hooks run in order with status
//   "creating" and pid -1 while <rootfs>/proc is still an empty directory;
//   then the rootfs bound into the gofer root.
// Usage: gofer-emulation.mjs BUNDLE [ID]   (as root)
// Prints one JSON report on stdout; exits 1 when a hook fails, like runsc.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync } from 'node:fs'
import { isAbsolute, join } from 'node:path'

const [bundle, id = 'gofer-emulated'] = process.argv.slice(2)
if (!bundle || !isAbsolute(bundle)) {
  process.stderr.write('usage: gofer-emulation.mjs /abs/BUNDLE [ID]\n')
  process.exit(2)
}

if (process.env.GOFER_EMULATION_INSIDE !== '1') {
  // The gofer's own namespaces; /proc is the host's, as in runsc's gofer.
  const res = spawnSync('/usr/bin/unshare', ['-m', '-p', '-f', '-i', '-u', '--propagation', 'unchanged', process.execPath, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, GOFER_EMULATION_INSIDE: '1' },
  })
  process.exit(res.status ?? 1)
}

const step = msg => process.env.GOFER_EMULATION_VERBOSE === '1' && process.stderr.write(`gofer: ${msg}\n`)
const mount = (...args) => {
  const r = spawnSync('/usr/bin/mount', args, { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`mount ${args.join(' ')}: ${r.stderr.trim()}`)
}

const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'))
const rootfs = isAbsolute(config.root.path) ? config.root.path : join(bundle, config.root.path)

step('make / MS_SLAVE|MS_REC')
mount('--make-rslave', '/')
step('tmpfs at /proc/fs as the gofer root')
mount('-t', 'tmpfs', '-o', 'mode=0700', 'gofer-root', '/proc/fs')
mkdirSync('/proc/fs/root')
// linux.rootfsPropagation applied to the self-bind (default rslave);
// containerd's CRI sets rshared for a pod with a Bidirectional volume.
const propagation = config.linux?.rootfsPropagation || 'rslave'
step(`self-bind ${rootfs} (MS_BIND|MS_REC) and make it ${propagation}`)
mount('--rbind', rootfs, rootfs)
mount(`--make-${propagation}`, rootfs)

const state = JSON.stringify({ ociVersion: config.ociVersion ?? '1.0.2', id, status: 'creating', pid: -1, bundle })
const hooks = config.hooks?.createContainer ?? []
for (const [i, hook] of hooks.entries()) {
  step(`createContainer hook #${i}: ${hook.path} ${JSON.stringify(hook.args ?? [])}`)
  const [argv0, ...args] = hook.args?.length ? hook.args : [hook.path]
  const r = spawnSync(hook.path, args, {
    argv0,
    input: state,
    // A hook's env is exactly its list; without one it gets the caller's.
    env: hook.env ? Object.fromEntries(hook.env.map(kv => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) : process.env,
    timeout: hook.timeout ? hook.timeout * 1000 : undefined,
    encoding: 'utf8',
  })
  if (r.status !== 0) {
    process.stderr.write(`FATAL ERROR: error executing CreateContainer hooks: hook #${i} ${hook.path}: ${r.error?.message ?? `exit status ${r.status ?? r.signal}`}, stdout: ${r.stdout ?? ''}, stderr: ${r.stderr ?? ''}\n`)
    process.stdout.write(JSON.stringify({ ok: false, failedHook: i, stderr: r.stderr ?? '' }) + '\n')
    process.exit(1)
  }
}

step('bind the rootfs into the gofer root')
mount('--rbind', rootfs, '/proc/fs/root')
const params = (() => {
  try {
    return readFileSync('/proc/fs/root/proc/driver/nvidia/params', 'utf8')
  } catch (er) {
    return `<${er.code}>`
  }
})()
const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
  .split('\n')
  .map(l => l.split(' '))
  .filter(f => f[4]?.startsWith('/proc/fs/root/'))
  .map(f => ({ mountPoint: f[4].slice('/proc/fs/root'.length), options: f[5] }))
process.stdout.write(JSON.stringify({ ok: true, params, mounts }) + '\n')
