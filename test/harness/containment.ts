import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process'
import { createHash } from 'node:crypto'
import { lstatSync, readdirSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs'
import { join } from 'node:path'
import type { Test } from 'tap'
import { parseMountinfo, REQUIRED_OPTIONS, type MountEntry } from '../../src/mountinfo'
import { EXE } from './target'

/** The executable under test: what runtimes run, not node src (test/harness/target.ts). */
export const HOOK = EXE
export const SOURCE = '/proc/driver/nvidia'
/** Runtimes give hooks exactly the env in their entry; ours lists no more than this. */
export const HOOK_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }
export const PREFIX = 'nvidia-procfs-hook: '

export interface HookRun {
  status: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

const asRun = (r: SpawnSyncReturns<string>): HookRun => {
  if (r.error) throw r.error
  return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr }
}

/** Runs the executable once, state (or other input) on stdin. */
export const runHook = (args: string[], input = '', env: NodeJS.ProcessEnv = HOOK_ENV, timeout = 30_000): HookRun =>
  asRun(spawnSync(HOOK, args, { input, env, encoding: 'utf8', timeout }))

/** The same, without blocking: for concurrent runs. */
export const runHookAsync = (args: string[], input = '', env: NodeJS.ProcessEnv = HOOK_ENV): Promise<HookRun> =>
  new Promise((done, fail) => {
    const child = spawn(HOOK, args, { env, stdio: ['pipe', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    child.on('error', fail)
    child.on('close', (status, signal) => done({ status, signal, stdout, stderr }))
    // A run with nothing to do may exit before reading its state, as runtimes allow (Go's exec ignores that EPIPE).
    child.stdin.on('error', er => {
      if ((er as NodeJS.ErrnoException).code !== 'EPIPE') fail(er)
    })
    child.stdin.end(input)
  })

export const gvisorState = (bundle: string, id = 'adv') =>
  JSON.stringify({ ociVersion: '1.0.2', id, status: 'creating', pid: -1, bundle })

/** Stderr must be empty or exactly one line, each line ours: never a stack trace. */
export const stderrLines = (stderr: string) => stderr.split('\n').filter(l => l !== '')

export const assertOneLine = (t: Test, run: HookRun, pattern: RegExp | undefined, what = 'stderr') => {
  const lines = stderrLines(run.stderr)
  if (pattern === undefined) return t.same(lines, [], `${what}: silent`)
  t.equal(lines.length, 1, `${what}: one line`)
  t.ok(lines[0]?.startsWith(PREFIX), `${what}: starts with "${PREFIX}"`)
  return t.match(lines[0], pattern, `${what}: says why`)
}

/** Kind, mode, mtime and content hash of everything under `dir`, except under `skip`, down to `depth`. */
export const treeFingerprint = (dir: string, skip?: string, depth = Infinity): Record<string, string> => {
  const out: Record<string, string> = {}
  const walk = (p: string, rel: string, level: number) => {
    if (p === skip) return
    const st = lstatSync(p)
    const kind = st.isDirectory() ? 'd' : st.isSymbolicLink() ? `l->${readlinkSync(p)}` : st.isFile() ? 'f' : 'o'
    const body = st.isFile() ? createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16) : ''
    // A shallow look keeps names and kinds only: busy dirs like /tmp change mtime under parallel tests.
    out[rel || '.'] = depth === Infinity ? `${kind} ${(st.mode & 0o7777).toString(8)} ${st.mtimeMs} ${body}` : kind
    if (st.isDirectory() && level < depth) {
      for (const name of readdirSync(p).sort()) walk(join(p, name), rel ? `${rel}/${name}` : name, level + 1)
    }
  }
  try {
    walk(dir, '', 0)
  } catch (er) {
    out['!'] = (er as NodeJS.ErrnoException).code ?? String(er)
  }
  return out
}

const mounts = () => parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'))
const under = (p: string, dir: string) => p === dir || p.startsWith(dir + '/')
const real = (p: string) => {
  try {
    return realpathSync(p)
  } catch {
    return p
  }
}

export interface Snapshot {
  rootfs: string
  mountsOutside: string[]
  inside: number[]
  trees: Record<string, Record<string, string>>
}

/**
 * What must not change when the hook runs on `rootfs`: every mount not under
 * it, and the trees in `watch` (bait dirs outside the rootfs, the host driver
 * tree, the bundle around the rootfs; `shallow` ones only one level deep).
 * The rootfs's own subtree is left out: changing it is the hook's job.
 */
export const snapshot = (rootfs: string, watch: string[], shallow: string[] = []): Snapshot => {
  const r = real(rootfs)
  const all = mounts()
  return {
    rootfs,
    mountsOutside: all
      .filter(m => !under(m.mountPoint, r))
      .map(m => `${m.id} ${m.parentId} ${m.mountPoint} ${m.options.join(',')} ${m.propagation.join(',')}`),
    inside: all.filter(m => under(m.mountPoint, r)).map(m => m.id),
    trees: Object.fromEntries([
      ...watch.map(d => [d, treeFingerprint(d, r)]),
      ...shallow.map(d => [`${d} (top level)`, treeFingerprint(d, r, 1)]),
    ]),
  }
}

/** The mounts under `rootfs` (its real path: mountinfo shows no symlinks). */
export const mountsIn = (rootfs: string): MountEntry[] => mounts().filter(m => under(m.mountPoint, real(rootfs)))

/** Nothing changed outside the rootfs; returns the mounts made under it since `before`. */
export const assertNothingOutside = (t: Test, before: Snapshot): MountEntry[] => {
  const shallow = Object.keys(before.trees).filter(k => k.endsWith(' (top level)')).map(k => k.slice(0, -' (top level)'.length))
  const after = snapshot(before.rootfs, Object.keys(before.trees).filter(k => !k.endsWith(' (top level)')), shallow)
  t.same(after.mountsOutside, before.mountsOutside, 'no mount outside the rootfs changed')
  for (const [dir, tree] of Object.entries(before.trees)) t.same(after.trees[dir], tree, `${dir} untouched`)
  return mountsIn(before.rootfs).filter(m => !before.inside.includes(m.id))
}

/**
 * The containment property: nothing changed outside the rootfs; under it, any
 * mount beyond those there before is a single read-only bind of the source,
 * exactly at <real rootfs>/proc/driver/nvidia.
 */
export const assertContained = (t: Test, before: Snapshot, expectMount: boolean) => {
  const added = assertNothingOutside(t, before)
  if (!expectMount) return t.same(added.map(m => m.mountPoint), [], 'no mount made')
  t.equal(added.length, 1, 'exactly one mount made')
  for (const m of added) assertOurMount(t, m, before.rootfs)
  return true
}

/** One mount: exactly at <rootfs>/proc/driver/nvidia, the source's directory, read-only & co. */
export const assertOurMount = (t: Test, m: MountEntry, rootfs: string) => {
  t.equal(m.mountPoint, join(real(rootfs), 'proc/driver/nvidia'), 'mount is exactly at <rootfs>/proc/driver/nvidia')
  for (const o of REQUIRED_OPTIONS) t.ok(m.options.includes(o), `mount is ${o}`)
  const target = statSync(m.mountPoint)
  const src = statSync(SOURCE)
  t.same([target.dev, target.ino], [src.dev, src.ino], 'mount shows the source directory (st_dev/st_ino)')
}
