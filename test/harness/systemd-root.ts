import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readlinkSync, rmdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { debianRoot } from './debian-root'

/**
 * A Debian 12 root (debian-root.ts's `systemd`) booted with systemd as PID 1
 * of its own pid, mount, cgroup, UTS, IPC and network namespaces, as
 * runtimes.md "systemd as PID 1 here" found it boots on this machine
 * without a systemd of its own: a fresh proc, sysfs and cgroup2, tmpfs
 * /run and /tmp, and pivot_root (so units' own mount namespaces see the
 * root); /dev is its own (BOOT below). Its files are an overlay over the
 * cached root, which stays as built. Call from a private mount namespace
 * (test/harness/private-ns.ts): the overlay and cgroup2 mounts die with it.
 */
export interface BootedRoot {
  /** PID 1's pid in this (the host's) pid namespace. */
  pid: number
  /** A path inside the booted root, through PID 1's root: readable and writable from here. */
  path: (p: string) => string
  /** Runs a command inside every namespace of the booted root, as root with a clean environment. */
  run: (args: string[]) => SpawnSyncReturns<string>
  /** Host pids of the processes left in the booted pid namespace. */
  processes: () => number[]
  /**
   * Powers the root off (`systemctl poweroff`) and waits for PID 1 to exit;
   * SIGKILL to PID 1 (which ends its pid namespace) when it has not after
   * `systemctl` returned and 600 polls of 100 ms. Returns PID 1's exit status
   * or signal. Removes the overlay, the cgroup and the work directory. Once:
   * a second call returns the first one's answer.
   */
  powerOff: () => Promise<string>
}

const ENV = ['/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'LC_ALL=C.UTF-8', 'SYSTEMD_PAGER=']

// Runs as the namespaces' first process: it becomes the cgroup namespace's
// root cgroup ($CGROUP, made here so that what systemd creates under it is
// removed afterwards), then execs systemd with `container` set as
// systemd-nspawn sets it. As nspawn does, and so that nothing reaches the
// host: sysfs and /proc/sys read-only (systemd-sysctl and udev skip
// themselves), a /dev of its own with only the harmless devices (no
// terminal for a getty, no disk), no capability to load modules, set the
// clock or read the kernel log.
const BOOT = `
set -e
echo $$ >"$CGROUP/cgroup.procs"
# Should the test die, unshare dies with it, and PID 1 with unshare: the
# kernel then ends the namespace's every process.
exec /usr/bin/setpriv --pdeathsig KILL /usr/bin/unshare --kill-child=SIGKILL -p -f -C -m -u -i -n --propagation private /bin/sh -ec '
  root=$1
  mount -t proc proc "$root/proc"
  mount --bind "$root/proc/sys" "$root/proc/sys"
  mount -o remount,bind,ro "$root/proc/sys"
  mount -t sysfs -o ro sysfs "$root/sys"
  mount -t cgroup2 cgroup2 "$root/sys/fs/cgroup"
  mount -t tmpfs -o mode=0755 tmpfs "$root/run"
  mount -t tmpfs -o mode=1777 tmpfs "$root/tmp"
  mount -t tmpfs -o mode=0755,nosuid tmpfs "$root/dev"
  for d in null zero full random urandom tty; do
    : >"$root/dev/$d"
    mount --bind "/dev/$d" "$root/dev/$d"
  done
  mkdir "$root/dev/pts" "$root/dev/shm" "$root/dev/mqueue"
  mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$root/dev/pts"
  ln -s pts/ptmx "$root/dev/ptmx"
  ln -s /proc/self/fd "$root/dev/fd"
  mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$root/dev/shm"
  mount -t mqueue mqueue "$root/dev/mqueue"
  cd "$root"
  pivot_root . .
  umount -l .
  exec /usr/bin/setpriv --bounding-set -sys_module,-sys_time,-sys_rawio,-syslog,-wake_alarm,-block_suspend \\
    /usr/bin/env -i container=systemd-nspawn /usr/lib/systemd/systemd --system
' sh "$ROOT"`

/**
 * Boots the systemd root (built first when missing: debian-root.ts) and
 * waits until `systemctl is-system-running` says it has booted (running,
 * degraded...: `state`), 600 polls of 100 ms at most. Throws one line
 * (with PID 1's last words) when it does not boot; nothing is left then.
 */
export const bootSystemdRoot = async (): Promise<BootedRoot & { state: string }> => {
  const lower = debianRoot('systemd')
  const work = mkdtempSync(join(tmpdir(), 'nph-systemd-'))
  const root = join(work, 'root')
  const cgroups = join(work, 'cgroup2')
  for (const d of ['upper', 'work', 'root', 'cgroup2']) mkdirSync(join(work, d))
  const sh = (cmd: string, ...args: string[]) => {
    const r = spawnSync(cmd, args, { encoding: 'utf8' })
    if (r.status === 0) return
    spawnSync('/usr/bin/umount', ['-l', root])
    rmSync(work, { recursive: true, force: true })
    throw new Error(`cannot boot the systemd root: ${cmd} ${args.join(' ')}: ${r.stderr.trim()}`)
  }
  sh('/usr/bin/mount', '-t', 'overlay', 'overlay', '-o', `lowerdir=${lower},upperdir=${join(work, 'upper')},workdir=${join(work, 'work')}`, root)
  sh('/usr/bin/mount', '-t', 'cgroup2', 'cgroup2', cgroups)
  const cgroup = join(cgroups, `nph-systemd-${process.pid}`)
  mkdirSync(cgroup)
  const log = join(work, 'console.log')
  const out = openSync(log, 'w')
  const boot = spawn('/bin/sh', ['-c', BOOT], { stdio: ['ignore', out, out], env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CGROUP: cgroup, ROOT: root } })
  closeSync(out)
  const exited = new Promise<string>(res => boot.on('exit', (code, signal) => res(signal ?? String(code))))
  let done = false
  void exited.then(() => (done = true))
  const consoleTail = () => readFileSync(log, 'utf8').trim().split('\n').slice(-5).join(' | ')

  // PID 1 is unshare's child (unshare -f), once it has exec'd systemd.
  let pid = 0
  for (let i = 0; i < 600 && !done && !pid; i++) {
    const child = readOptional(`/proc/${boot.pid}/task/${boot.pid}/children`)?.trim()
    if (child && readOptional(`/proc/${child}/comm`)?.trim() === 'systemd') pid = Number(child)
    else await new Promise(res => setTimeout(res, 100))
  }
  const pidNs = pid ? readlinkSync(`/proc/${pid}/ns/pid`) : ''
  const processes = () =>
    readdirSync('/proc')
      .filter(n => /^\d+$/.test(n))
      .filter(n => {
        try {
          return readlinkSync(`/proc/${n}/ns/pid`) === pidNs
        } catch (er) {
          // Gone, or one we may not look into (this namespace's init): not the root's.
          if (['ENOENT', 'EACCES'].includes((er as NodeJS.ErrnoException).code ?? '')) return false
          throw er
        }
      })
      .map(Number)

  const cleanUp = () => {
    // What systemd left of its cgroups (init.scope at least), deepest first.
    const dirs = (d: string): string[] => [...readdirSync(d, { withFileTypes: true }).filter(e => e.isDirectory()).flatMap(e => dirs(join(d, e.name))), d]
    if (existsSync(cgroup)) for (const d of dirs(cgroup)) rmdirSync(d)
    spawnSync('/usr/bin/umount', [cgroups])
    spawnSync('/usr/bin/umount', ['-l', root])
    rmSync(work, { recursive: true, force: true })
  }
  let poweredOff: Promise<string> | undefined
  const powerOff = () => (poweredOff ??= powerOffOnce())
  const powerOffOnce = async () => {
    if (!done && pid) {
      spawnSync('/usr/bin/nsenter', ['-t', String(pid), '-a', ...ENV, 'systemctl', 'poweroff'], { encoding: 'utf8', timeout: 60_000 })
      for (let i = 0; i < 600 && !done; i++) await new Promise(res => setTimeout(res, 100))
    }
    // Killing PID 1 ends its pid namespace; before there is one, the boot script.
    if (!done && pid) process.kill(pid, 'SIGKILL')
    else if (!done) boot.kill('SIGKILL')
    const status = await exited
    cleanUp()
    return status
  }
  const run = (args: string[]) => spawnSync('/usr/bin/nsenter', ['-t', String(pid), '-a', ...ENV, ...args], { encoding: 'utf8', timeout: 300_000 })
  const booted = { pid, path: (p: string) => join('/proc', String(pid), 'root', p), run, processes, powerOff }

  // Polled: `is-system-running --wait` asked this early can miss the end of
  // the boot and wait for good (systemd 252).
  let state = ''
  for (let i = 0; i < 600 && pid && !done && ['', 'offline', 'initializing', 'starting'].includes(state); i++) {
    if (i) await new Promise(res => setTimeout(res, 100))
    state = run(['systemctl', 'is-system-running']).stdout.trim()
  }
  if (['', 'offline', 'initializing', 'starting'].includes(state)) {
    const last = consoleTail()
    await powerOff()
    throw new Error(`systemd did not boot in the Debian 12 root: ${last || 'no output'}`)
  }
  return { ...booted, state }
}

const readOptional = (path: string) => {
  try {
    return readFileSync(path, 'utf8')
  } catch (er) {
    if ((er as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw er
  }
}
