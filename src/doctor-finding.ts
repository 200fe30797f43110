import { spawnSync } from 'node:child_process'
import { accessSync, constants, readdirSync, statSync, type Stats } from 'node:fs'
import { errorCode, errorText, HookError } from './errors'
import { hostPath } from './host-root'
import { readFileBounded } from './read-bounded'

// What every doctor check shares: the Finding it returns, and how it reads
// the host (every host path through host-root.ts's hostPath, so links on the
// host resolve inside --host-root).

export type Status = 'ok' | 'info' | 'warn' | 'fail'

/** One line of the verdict; `fix` is a command an operator can paste; `data`: the same as data, for --json. */
export interface Finding {
  check: string
  status: Status
  summary: string
  fix?: string
  data?: Record<string, unknown>
}

/** The host as seen under `root` (`/`, or where a test or a pod mounted it). */
export interface Host {
  root: string
}

/** Our path for the host path `path`: resolved inside the host root (hostPath). Throws HookError where it cannot be. */
export const at = (host: Host, path: string): string => hostPath(host.root, path)

/** Whether the host path `path` is an executable regular file (a link resolved inside the host root). */
export const isExecutableFile = (host: Host, path: string): boolean => {
  try {
    const p = at(host, path)
    accessSync(p, constants.X_OK)
    return statSync(p).isFile()
  } catch {
    return false
  }
}

/** Where a root caller's PATH looks, in its order. */
export const BIN_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']

/** The first of `dirs` (host paths) holding an executable `name`; its host path. */
export const which = (host: Host, name: string, dirs = BIN_DIRS): string | undefined =>
  dirs.map(d => `${d}/${name}`).find(p => isExecutableFile(host, p))

export const VERSION_TIMEOUT_MS = 3000

/** What a program printed, or why it said nothing usable. */
export type ToolAnswer = { stdout: string; stderr: string } | { why: string }

/**
 * Runs `file args` with a fixed environment and a timeout (SIGKILL at
 * `timeoutMs`): a wedged program must not wedge the doctor. Exit 0 is an
 * answer (stdout and stderr); anything else is a `why` (the error code,
 * `no answer within N s`, or `exit N: <stderr's last line>`).
 */
export const runTool = (file: string, args: string[], timeoutMs = VERSION_TIMEOUT_MS): ToolAnswer => {
  const res = spawnSync(file, args, {
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' },
    timeout: timeoutMs,
    killSignal: 'SIGKILL',
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 4 * 1024 * 1024,
  })
  if (res.error) return { why: errorCode(res.error) === 'ETIMEDOUT' ? `no answer within ${timeoutMs / 1000} s` : errorText(res.error) }
  if (res.status !== 0) {
    return { why: `exit ${res.status ?? res.signal}${res.stderr.trim() ? `: ${res.stderr.trim().split('\n').pop()}` : ''}` }
  }
  return { stdout: res.stdout, stderr: res.stderr }
}

/** `FILE --version`'s first line (runTool); exit 0 with nothing on stdout is no answer. */
export const versionOf = (file: string): { line: string } | { why: string } => {
  const res = runTool(file, ['--version'])
  if ('why' in res) return res
  const line = res.stdout.split('\n').find(l => l.trim() !== '')?.trim()
  return line === undefined ? { why: 'exit 0' } : { line }
}

/** A host file's text (bounded), or why not, said with the host's own path. */
export const readText = (host: Host, path: string, what: string): { text: string } | { why: string } => {
  let resolved: string | undefined
  try {
    resolved = at(host, path)
    return { text: readFileBounded(resolved, what) }
  } catch (er) {
    // hostPath and readFileBounded throw HookErrors naming the file: say it as the host knows it.
    /* c8 ignore next -- they throw nothing else */
    if (!(er instanceof HookError)) throw er
    return { why: resolved === undefined || resolved === path ? er.message : er.message.split(resolved).join(path) }
  }
}

/**
 * The names in the host directory `dir` matching `pattern`, sorted, as host
 * paths; none when it does not exist or is not a directory (CDI and the
 * hooks loaders skip those too). Other errors are thrown: they are not verdicts.
 */
export const filesIn = (host: Host, dir: string, pattern: RegExp): string[] => {
  let path: string
  try {
    path = at(host, dir)
  } catch (er) {
    /* c8 ignore next -- hostPath throws only HookErrors */
    if (!(er instanceof HookError)) throw er
    return []
  }
  try {
    return readdirSync(path)
      .filter(n => pattern.test(n))
      .sort()
      .map(n => `${dir}/${n}`)
  } catch (er) {
    if (errorCode(er) === 'ENOENT' || errorCode(er) === 'ENOTDIR') return []
    throw er
  }
}

/** `1 thing`, `2 things`. */
export const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`

/** The host path's stat (a link resolved inside the host root), or undefined where it does not exist or cannot be resolved. */
export const statHost = (host: Host, path: string): Stats | undefined => {
  try {
    return statSync(at(host, path), { throwIfNoEntry: false })
  } catch (er) {
    // hostPath's HookError: a link loop, or a file where a directory should be.
    /* c8 ignore next -- hostPath throws only HookErrors; it resolved the path, so stat has it */
    if (!(er instanceof HookError)) throw er
    return undefined
  }
}
