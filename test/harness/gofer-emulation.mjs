#!/usr/bin/env node
// Emulates what gVisor's gofer does around CDI createContainer hooks, for a
// runsc too new to run here, point by point as measured from
// release-20260520.0 (runsc/cmd/sandboxsetup/gofer_mount.go,
// runsc/specutils/hooks.go; shared/reference/runtimes.md "gVisor's gofer,
// precisely"), each point pinned by test/system/gofer.ts and compared with
// the real runsc, both releases, by test/e2e/runsc-gofer.ts:
//   a linux.rootfsPropagation other than private, rprivate, slave or rslave
//   refused before anything runs, with runsc's words and exit 128
//   (runsc/specutils/fs.go; containerd's CRI asks rshared for a pod with a
//   Bidirectional volume: such a pod does not start under runsc);
//   own mount, pid, ipc and uts namespaces, the host's /proc still at /proc;
//   `/` made MS_SLAVE|MS_REC; a tmpfs at /proc/fs (nosuid,nodev,noexec,
//   unbindable) as the gofer root, the host's /proc bound read-only at
//   /proc/fs/proc; the rootfs (root.path, relative to the bundle) self-bound
//   MS_BIND|MS_REC and given linux.rootfsPropagation (default rslave); the
//   spec's bind mounts (CDI's included) bound into the rootfs before the
//   hooks; the createContainer hooks in order, each with its own env (none:
//   ours, less GOMAXPROCS), args[0] and timeout (SIGKILL), state
//   {"ociVersion":"1.2.1","id","status":"creating","pid":-1,"bundle",
//   "annotations"?} on stdin; the first failure stops the list with
//   `FATAL ERROR: error executing CreateContainer hooks: failure executing
//   hook "PATH", err: ...` and its stdout and stderr on lines of their own
//   (`timeout executing hook "PATH"` for one killed at its timeout) and
//   exit 128; then the
//   rootfs bound recursively into /proc/fs/root, and made read-only (not
//   recursively) only now for root.readonly.
// Usage: gofer-emulation.mjs BUNDLE [ID]   (as root)
// Prints one JSON report on stdout.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, isAbsolute, join } from 'node:path'

const [bundle, id = 'gofer-emulated'] = process.argv.slice(2)
if (!bundle || !isAbsolute(bundle)) {
  process.stderr.write('usage: gofer-emulation.mjs /abs/BUNDLE [ID]\n')
  process.exit(2)
}

if (process.env.GOFER_EMULATION_INSIDE !== '1') {
  // The gofer's own namespaces; /proc is the host's, as in runsc's gofer.
  // Without NODE_OPTIONS: a test runner's preload there would wrap this
  // process's spawns and add its variables to every hook's exact env.
  const res = spawnSync('/usr/bin/unshare', ['-m', '-p', '-f', '-i', '-u', '--propagation', 'unchanged', '/usr/bin/env', '-u', 'NODE_OPTIONS', process.execPath, ...process.argv.slice(1)], {
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
// runsc reads the spec before it starts the gofer, and refuses these there.
const propagation = config.linux?.rootfsPropagation || 'rslave'
if (!['private', 'rprivate', 'slave', 'rslave'].includes(propagation)) {
  process.stderr.write(`FetchSpec failed: reading spec: root mount propagation option must specify private or slave: ${JSON.stringify(propagation)}\n`)
  process.stdout.write(JSON.stringify({ ok: false, refused: propagation }) + '\n')
  process.exit(128)
}
const rootfs = isAbsolute(config.root.path) ? config.root.path : join(bundle, config.root.path)

step('make / MS_SLAVE|MS_REC')
mount('--make-rslave', '/')
step('tmpfs at /proc/fs as the gofer root; the host /proc read-only at /proc/fs/proc')
mount('-t', 'tmpfs', '-o', 'mode=0700,nosuid,nodev,noexec', 'gofer-root', '/proc/fs')
mount('--make-unbindable', '/proc/fs')
mkdirSync('/proc/fs/proc')
mount('--rbind', '-o', 'ro', '/proc', '/proc/fs/proc')
mkdirSync('/proc/fs/root')
// linux.rootfsPropagation applied to the self-bind (default rslave).
step(`self-bind ${rootfs} (MS_BIND|MS_REC) and make it ${propagation}`)
mount('--rbind', rootfs, rootfs)
mount(`--make-${propagation}`, rootfs)

// SetupMounts: the spec's bind mounts (CDI's among them) before the hooks.
for (const m of config.mounts ?? []) {
  const opts = m.options ?? []
  if (m.type !== 'bind' && !opts.includes('bind') && !opts.includes('rbind')) continue
  const target = join(rootfs, m.destination)
  if (statSync(m.source).isDirectory()) mkdirSync(target, { recursive: true })
  else {
    mkdirSync(dirname(target), { recursive: true })
    writeFileSync(target, '', { flag: 'a' })
  }
  step(`bind ${m.source} at ${target}`)
  mount(opts.includes('rbind') ? '--rbind' : '--bind', m.source, target)
  if (opts.includes('ro')) mount('-o', 'remount,bind,ro', target)
}

const state = JSON.stringify({ ociVersion: '1.2.1', id, status: 'creating', pid: -1, bundle, ...(config.annotations ? { annotations: config.annotations } : {}) })
// runsc's own environment (this one's, less its marker), less GOMAXPROCS.
const { GOMAXPROCS: _, GOFER_EMULATION_INSIDE: __, ...ownEnv } = process.env
const hooks = config.hooks?.createContainer ?? []
for (const [i, hook] of hooks.entries()) {
  step(`createContainer hook #${i}: ${hook.path} ${JSON.stringify(hook.args ?? [])}`)
  const [argv0, ...args] = hook.args?.length ? hook.args : [hook.path]
  const r = spawnSync(hook.path, args, {
    argv0,
    input: state,
    // A hook's env is exactly its list; without one it gets runsc's own, less GOMAXPROCS.
    env: hook.env ? Object.fromEntries(hook.env.map(kv => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])) : ownEnv,
    timeout: hook.timeout ? hook.timeout * 1000 : undefined,
    killSignal: 'SIGKILL',
    encoding: 'utf8',
  })
  if (r.status !== 0) {
    // Go's os/exec words for how it ended; like Go, a hook that exits
    // without reading its state (EPIPE on its stdin) is judged by its exit.
    const err = r.signal ? `signal: ${r.signal === 'SIGKILL' ? 'killed' : r.signal}` : r.status !== null ? `exit status ${r.status}` : r.error?.message
    const what = r.error?.code === 'ETIMEDOUT' ? `timeout executing hook "${hook.path}"` : `failure executing hook "${hook.path}", err: ${err}\nstdout: ${r.stdout ?? ''}\nstderr: ${r.stderr ?? ''}`
    process.stderr.write(`FATAL ERROR: error executing CreateContainer hooks: ${what}\n`)
    process.stdout.write(JSON.stringify({ ok: false, failedHook: i, stderr: r.stderr ?? '' }) + '\n')
    process.exit(128)
  }
}

step('bind the rootfs into the gofer root')
mount('--rbind', rootfs, '/proc/fs/root')
if (config.root.readonly) {
  step('root.readonly: remount the gofer root read-only, not recursively')
  mount('-o', 'remount,bind,ro', '/proc/fs/root')
}
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
  .filter(f => f[4] === '/proc/fs/root' || f[4]?.startsWith('/proc/fs/root/'))
  .map(f => ({ mountPoint: f[4].slice('/proc/fs/root'.length) || '/', options: f[5] }))
process.stdout.write(JSON.stringify({ ok: true, params, mounts }) + '\n')
