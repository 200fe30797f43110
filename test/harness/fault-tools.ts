import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFileSync } from 'node:child_process'

/**
 * What the stand-ins do to the hook's own util-linux calls (those naming
 * /proc/self/fd/3); every other call passes straight through. The rootfs
 * lock is flock(2) inside the executable (node:ffi): no tool to stand in for;
 * `kill-before-bind` copies /proc/locks to `locks` first, to show it held.
 * "remount" is the step that seals the bind: with libmount's fd-based API,
 * the bind itself, attached read-only (so `remount-fails` there attaches it
 * and then fails, and `remount-does-nothing` attaches it read-write, as a
 * libmount that dropped the options would); with classic mount(2), the
 * executable's own remount (mount(2) through node:ffi), which strace
 * tampers with instead (sealFaultWrap).
 */
export type FaultMode =
  | 'pass'
  | 'remount-fails'
  | 'remount-does-nothing'
  | 'bind-binds-a-decoy'
  | 'kill-before-bind'
  | 'kill-after-bind'
  | 'kill-after-remount'
  | 'kill-in-rollback'
  | 'hang-in-bind'

const TOOLS = ['mount', 'umount'] as const

/**
 * Binds fault-injecting stand-ins over /usr/bin/{mount,umount} (this
 * machine is usrmerged: /bin is /usr/bin). Call only inside a private mount
 * namespace. The stand-ins read the mode from a file, since the hook gives
 * util-linux a fixed environment.
 */
export const installFaultTools = (decoy: string) => {
  const dir = mkdtempSync(join(tmpdir(), 'nph-faults-'))
  const control = join(dir, 'mode')
  writeFileSync(control, 'pass')
  // Same basenames as the originals, so their messages read "mount: ...".
  mkdirSync(join(dir, 'real'))
  for (const tool of TOOLS) {
    const real = join(dir, 'real', tool)
    copyFileSync(`/usr/bin/${tool}`, real)
    writeFileSync(
      join(dir, tool),
      `#!/bin/sh
# Stand-in for util-linux ${tool}: injects the fault named in ${control}.
mode=$(cat ${control})
op=other
case "${tool} $*" in
  umount*/proc/self/fd/3*) op=umount ;;
  *'--bind -o '*/proc/self/fd/3*) op=sealed-bind ;;
  *--bind*/proc/self/fd/3*) op=bind ;;
esac
# Without its options, the fd-based API's bind is a plain read-write one.
plain() { shift 4; ${real} --no-canonicalize --bind "$@"; }
case "$mode:$op" in
  remount-fails:sealed-bind) ${real} "$@"; echo "mount: injected remount failure" >&2; exit 32 ;;
  remount-does-nothing:sealed-bind) plain "$@"; exit $? ;;
  bind-binds-a-decoy:*bind) exec ${dir}/real/mount --no-canonicalize --bind ${decoy} /proc/self/fd/3/. ;;
  kill-before-bind:*bind) { echo "hook $PPID"; cat /proc/locks; } > ${dir}/locks; kill -9 $PPID; exit 1 ;;
  kill-after-bind:*bind) ${real} "$@"; kill -9 $PPID; exit 0 ;;
  kill-after-remount:sealed-bind) ${real} "$@"; kill -9 $PPID; exit 0 ;;
  kill-in-rollback:sealed-bind) ${real} "$@"; echo "mount: injected remount failure" >&2; exit 32 ;;
  kill-in-rollback:umount) kill -9 $PPID; exit 1 ;;
  hang-in-bind:*bind) echo $$ > ${dir}/hung.pid; exec sleep 60 ;;
esac
exec ${real} "$@"
`,
      { mode: 0o755 },
    )
  }
  for (const tool of TOOLS) execFileSync(join(dir, 'real/mount'), ['--bind', join(dir, tool), `/usr/bin/${tool}`])
  return {
    dir,
    setMode: (mode: FaultMode) => writeFileSync(control, mode),
    uninstall: () => {
      for (const tool of TOOLS) execFileSync(join(dir, 'real/umount'), [`/usr/bin/${tool}`])
      rmSync(dir, { recursive: true })
    },
  }
}

/**
 * With classic mount(2) the executable seals the bind itself: mount(2)
 * through node:ffi, no tool to stand in for. strace tampers with that call
 * instead; it traces only the hook's own process, not its mount(8) child.
 * `kill-after-remount` holds the call's return for 60 s, for the caller to
 * kill the hook once the remount shows in mountinfo. The wrapper for `mode`,
 * or [] where the stand-ins do it all.
 */
export const sealFaultWrap = (mode: FaultMode): string[] => {
  const tamper: Partial<Record<FaultMode, string>> = {
    'remount-fails': 'error=EIO',
    'remount-does-nothing': 'retval=0',
    'kill-in-rollback': 'error=EIO',
    'kill-after-remount': 'delay_exit=60s',
  }
  const how = tamper[mode]
  return how ? ['/usr/bin/strace', '-qq', '-o', '/dev/null', '-e', 'trace=mount', '-e', `inject=mount:${how}`] : []
}
