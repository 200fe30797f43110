/**
 * The faults the executable's mount path is put through. Its bind, seal,
 * lock and rollback are system calls of its own (node:ffi), which strace
 * tampers with. "remount" is the step that seals the bind: with classic
 * mount(2), the remount (the second mount(2)); with the fd-based API,
 * mount_setattr on the detached tree. The kills and the hang hold a call
 * (strace's delay) for the caller to act at that point; the kill in the
 * rollback is strace's own, at umount2(2), which then does not run.
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

export type Api = 'classic' | 'fd-based'

const KILL_IN_UMOUNT = 'umount2:error=EIO:signal=KILL'

/**
 * strace's tampering for `mode` under `api` (syscall:action each), none
 * where the mode needs none. The bind is open_tree (fd-based) or the first
 * mount(2) (classic); the seal mount_setattr or the second mount(2).
 */
const TAMPER: Record<Api, Partial<Record<FaultMode, string[]>>> = {
  classic: {
    'remount-fails': ['mount:error=EIO:when=2'],
    'remount-does-nothing': ['mount:retval=0:when=2'],
    'bind-binds-a-decoy': ['flock:delay_exit=2s'],
    'kill-before-bind': ['mount:delay_enter=60s:when=1'],
    'kill-after-bind': ['mount:delay_enter=60s:when=2'],
    'kill-after-remount': ['mount:delay_exit=60s:when=2'],
    'kill-in-rollback': ['mount:error=EIO:when=2', KILL_IN_UMOUNT],
    'hang-in-bind': ['mount:delay_enter=60s:when=1'],
  },
  'fd-based': {
    'remount-fails': ['mount_setattr:error=EIO'],
    'remount-does-nothing': ['mount_setattr:retval=0'],
    'bind-binds-a-decoy': ['flock:delay_exit=2s'],
    'kill-before-bind': ['open_tree:delay_enter=60s'],
    'kill-after-bind': ['move_mount:delay_exit=60s'],
    'kill-after-remount': ['move_mount:delay_exit=60s'],
    'kill-in-rollback': ['mount_setattr:retval=0', KILL_IN_UMOUNT],
    'hang-in-bind': ['open_tree:delay_enter=60s'],
  },
}

/** The strace command line that runs the executable under fault `mode` (prefix it), or [] for none. */
export const faultWrap = (mode: FaultMode, api: Api): string[] => {
  const how = TAMPER[api][mode] ?? []
  if (!how.length) return []
  const calls = how.map(h => h.slice(0, h.indexOf(':')))
  return ['/usr/bin/strace', '-qq', '-o', '/dev/null', '-e', `trace=${calls.join(',')}`, ...how.flatMap(h => ['-e', `inject=${h}`])]
}
