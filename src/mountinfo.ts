import { readFileSync } from 'node:fs'

/** One line of /proc/PID/mountinfo (proc(5)). */
export interface MountEntry {
  id: number
  parentId: number
  /** "major:minor" of the filesystem. */
  device: string
  /** Path inside the filesystem that is mounted (a bind's source). */
  root: string
  mountPoint: string
  /** Per-mount options: ro/rw, nosuid, nodev, noexec, relatime, … */
  options: string[]
  /** shared:N, master:N, propagate_from:N, unbindable. */
  propagation: string[]
  fsType: string
  source: string
}

/** mountinfo escapes space, tab, newline and backslash as \ooo. */
const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

export const parseMountinfo = (text: string): MountEntry[] => {
  const entries: MountEntry[] = []
  for (const line of text.split('\n')) {
    if (line === '') continue
    const sep = line.indexOf(' - ')
    if (sep < 0) throw new Error(`malformed mountinfo line: ${line}`)
    const left = line.slice(0, sep).split(' ')
    const right = line.slice(sep + 3).split(' ')
    const [id, parentId, device, root, mountPoint, options, ...propagation] = left
    const [fsType, source] = right
    if (options === undefined || fsType === undefined || source === undefined) {
      throw new Error(`malformed mountinfo line: ${line}`)
    }
    entries.push({
      id: Number(id),
      parentId: Number(parentId),
      device: device as string,
      root: unescape(root as string),
      mountPoint: unescape(mountPoint as string),
      options: options.split(','),
      propagation,
      fsType,
      source: unescape(source),
    })
  }
  return entries
}

export const readMountinfo = (pid: number | 'self' = 'self'): MountEntry[] =>
  parseMountinfo(readFileSync(`/proc/${pid}/mountinfo`, 'utf8'))

/** The mount an open fd lives on, from /proc/self/fdinfo (works for O_PATH fds). */
export const mountIdOfFd = (fd: number): number => {
  const text = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8')
  const m = /^mnt_id:\s*(\d+)$/m.exec(text)
  if (!m) throw new Error(`no mnt_id in /proc/self/fdinfo/${fd}`)
  return Number(m[1])
}

export const REQUIRED_OPTIONS = ['ro', 'nosuid', 'nodev', 'noexec'] as const

export const missingOptions = (entry: MountEntry): string[] =>
  REQUIRED_OPTIONS.filter(o => !entry.options.includes(o))
