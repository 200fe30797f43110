// The gofer emulation (test/harness/gofer-emulation.mjs) held to the real
// gofer: each scenario's bundle runs through the emulation and through
// `runsc run` of both releases, with NVIDIA's real hook (the nvidia-ctk
// form, which both releases run), and what each shows is compared: the
// outcome (exit 0, or 128 with the failing hook and Go's error words, or the
// spec refused with runsc's words), the state a hook reads on stdin, and the
// mounts under the rootfs that a probe hook, run last, sees in the gofer's
// mount namespace. The emulation stays where the real runsc cannot reach (a
// fault at each step, races: test/system/gofer.ts and the suites using it).
import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()
// Each real sandbox takes a fraction of a second; a loaded machine, more than tap's 30 s for the file.
t.setTimeout(300_000)

import { spawnSync } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { writeBusyboxRootfs } from '../harness/busybox-rootfs'
import { findRealTools, goferLog, placeFiles, type RealTools, type Runsc } from '../harness/real-tools'
import { containerWork } from '../harness/scratch'
import { EXE } from '../harness/target'
import { parseMountinfo } from '../../src/mountinfo'
import { ourHook } from '../../src/registration'

const GOFER = resolve('test/harness/gofer-emulation.mjs')
const NVIDIA = { path: '/usr/bin/nvidia-ctk', args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] }
/**
 * The environment runsc (and the emulation) runs with, set by env(1) after
 * tap's own spawn has added its variables; a hook without `env` gets it, less GOMAXPROCS.
 */
const ENV = ['/usr/bin/env', '-i', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'GOFER_MARK=x', 'GOMAXPROCS=2']

/**
 * What runsc's gofer sometimes dies of, instead of `timeout executing hook`,
 * while it waits out a hook's timeout (Go's runtime, seen with both releases
 * here in about 1 run of 6 on a loaded machine): exit 128 either way.
 */
const DEADLOCK = 'fatal error: all goroutines are asleep - deadlock!'

/** The mounts under the rootfs after our hook and NVIDIA's: ours read-only, NVIDIA's params and its scratch tmpfs. */
const MOUNTED = ['/proc/driver/nvidia ro', '/proc/driver/nvidia/params rw', '/run/nvidia-ctk-hook<uuid> rw']

interface Scenario {
  hooks: (out: string) => object[]
  linux?: object
  root?: { readonly: boolean }
  mounts?: object[]
}

/** What a run shows, in terms both gofers share; `dir` stands for the run's own directory. */
interface Seen {
  status: number | null
  failure?: string
  refused?: string
  mounts?: string[]
  state?: unknown
  env?: string[]
}

const main = (tools: RealTools) => {
  const work = containerWork(t, 'nph-e2e-runsc-gofer-')
  const template = join(work, 'rootfs')
  writeBusyboxRootfs(template)
  const lib = join(work, 'libcuda.so.1')
  writeFileSync(lib, 'FAKE library\n')
  placeFiles(t, { '/usr/bin/nvidia-ctk': tools.toolkit.nvidiaCtk, '/usr/bin/nvidia-cdi-hook': tools.toolkit.nvidiaCdiHook })

  /** The scenario's bundle in a fresh directory: busybox running /bin/true, the probe last. */
  const bundleFor = (s: Scenario, dir: string) => {
    const bundle = join(dir, 'bundle')
    cpSync(template, join(bundle, 'rootfs'), { recursive: true, verbatimSymlinks: true })
    const out = join(dir, 'out')
    mkdirSync(out)
    const probe = { path: '/bin/sh', args: ['sh', '-c', `cat /proc/self/mountinfo > ${out}/mountinfo`], env: ['PATH=/usr/bin:/bin'] }
    const config = {
      ociVersion: '1.0.2',
      process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['/bin/true'], env: ['PATH=/bin'], cwd: '/' },
      root: { path: 'rootfs', readonly: s.root?.readonly ?? true },
      hostname: 'runsc',
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }, ...(s.mounts ?? [])],
      linux: { namespaces: [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }], ...s.linux },
      hooks: { createContainer: [...s.hooks(out), probe] },
    }
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config))
    return { bundle, out }
  }

  /** What the probe and the scenario's hooks left in `out`, with `dir` for the run's directory. */
  const seenIn = (dir: string, out: string, rootfs: string): Omit<Seen, 'status'> => {
    const read = (f: string) => {
      try {
        return readFileSync(join(out, f), 'utf8')
      } catch (er) {
        if ((er as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw er
      }
    }
    const mountinfo = read('mountinfo')
    const state = read('state')
    const env = read('env')
    return {
      ...(mountinfo === undefined
        ? {}
        : {
            mounts: parseMountinfo(mountinfo)
              .filter(m => m.mountPoint.startsWith(`${rootfs}/`))
              .map(m => `${m.mountPoint.slice(rootfs.length).replace(/nvidia-ctk-hook[-0-9a-f]+$/, 'nvidia-ctk-hook<uuid>')} ${m.options[0]}`)
              .sort(),
          }),
      ...(state === undefined ? {} : { state: JSON.parse(state.replaceAll(dir, '<dir>')) }),
      ...(env === undefined ? {} : { env: env.split('\n').filter(l => l !== '' && !/^(PWD|SHLVL|_)=/.test(l)).sort() }),
    }
  }

  /** The failing hook and Go's error words, or the refusal, from what a gofer (or runsc) wrote. */
  const outcome = (text: string, dir: string) => {
    if (text.includes(DEADLOCK)) return { failure: DEADLOCK }
    const failure = /(failure|timeout) executing hook "([^"]+)"(?:, err: ([^\n]+))?/.exec(text)
    const refused = /FetchSpec failed: reading spec: (root mount propagation option must specify private or slave: "[^"]*")/.exec(text)
    return { ...(failure ? { failure: `${failure[1]} ${failure[2]?.replaceAll(dir, '<dir>')}${failure[3] ? `: ${failure[3]}` : ''}` } : {}), ...(refused ? { refused: refused[1] } : {}) }
  }

  const emulated = (s: Scenario): Seen => {
    const dir = mkdtempSync(join(work, 'emulation-'))
    const { bundle, out } = bundleFor(s, dir)
    const res = spawnSync(ENV[0] as string, [...ENV.slice(1), process.execPath, GOFER, bundle, 'c1'], { encoding: 'utf8' })
    return { status: res.status, ...outcome(res.stderr, dir), ...seenIn(dir, out, join(bundle, 'rootfs')) }
  }

  const real = (r: Runsc, s: Scenario): Seen => {
    const dir = mkdtempSync(join(work, `runsc-${r.release}-`))
    const { bundle, out } = bundleFor(s, dir)
    const logs = join(dir, 'logs')
    const res = spawnSync(ENV[0] as string, [...ENV.slice(1), r.runsc, '--root', join(dir, 'state'), '--debug', `--debug-log=${logs}/`, 'run', '--bundle', bundle, 'c1'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 60_000 })
    return { status: res.status, ...outcome(`${res.stderr}\n${goferLog(logs)}`, dir), ...seenIn(dir, out, join(bundle, 'rootfs')) }
  }

  const SCENARIOS: Record<string, { scenario: Scenario; expect: (t: Test, seen: Seen) => void; realMayFail?: string }> = {
    "NVIDIA's hook alone": {
      scenario: { hooks: () => [NVIDIA] },
      expect: (t, seen) => t.match(seen, { status: 128, failure: 'failure /usr/bin/nvidia-ctk: exit status 1', mounts: undefined }),
    },
    "ours, then NVIDIA's": {
      scenario: { hooks: () => [ourHook({ binary: EXE }), NVIDIA] },
      expect: (t, seen) => t.match(seen, { status: 0, mounts: MOUNTED }),
    },
    "NVIDIA's, then ours": {
      scenario: { hooks: () => [NVIDIA, ourHook({ binary: EXE })] },
      expect: (t, seen) => t.match(seen, { status: 128, failure: 'failure /usr/bin/nvidia-ctk: exit status 1' }),
    },
    'root.readonly false: ours, then NVIDIA\'s': {
      scenario: { hooks: () => [ourHook({ binary: EXE }), NVIDIA], root: { readonly: false } },
      expect: (t, seen) => t.match(seen, { status: 0, mounts: MOUNTED }),
    },
    "a CDI bind mount (read-only), then ours and NVIDIA's": {
      scenario: {
        hooks: () => [ourHook({ binary: EXE }), NVIDIA],
        mounts: [{ destination: '/usr/lib/libcuda.so.1', source: lib, type: 'bind', options: ['ro', 'nosuid', 'nodev', 'rbind', 'rprivate'] }],
      },
      expect: (t, seen) => t.match(seen, { status: 0, mounts: [...MOUNTED, '/usr/lib/libcuda.so.1 ro'] }),
    },
    'a hook that fails with output': {
      scenario: { hooks: () => [{ path: '/bin/sh', args: ['sh', '-c', 'echo said; echo complained >&2; exit 3'], env: ['PATH=/usr/bin:/bin'] }] },
      expect: (t, seen) => t.match(seen, { status: 128, failure: 'failure /bin/sh: exit status 3' }),
    },
    'the state on stdin; a hook without env gets the gofer\'s, less GOMAXPROCS': {
      scenario: { hooks: out => [{ path: '/bin/sh', args: ['sh', '-c', `cat > ${out}/state; env > ${out}/env`] }] },
      expect: (t, seen) => t.match(seen, { status: 0, state: { ociVersion: '1.2.1', id: 'c1', status: 'creating', pid: -1, bundle: '<dir>/bundle' }, env: ['GOFER_MARK=x', 'PATH=/usr/sbin:/usr/bin:/sbin:/bin'] }),
    },
    'a hook past its timeout': {
      scenario: { hooks: () => [{ path: '/bin/sh', args: ['sh', '-c', 'exec sleep 30'], env: ['PATH=/usr/bin:/bin'], timeout: 1 }] },
      expect: (t, seen) => t.match(seen, { status: 128, failure: 'timeout /bin/sh' }),
      realMayFail: DEADLOCK,
    },
    ...Object.fromEntries(
      ['rshared', 'shared'].map(p => [
        `rootfsPropagation ${p} (containerd's CRI, a pod with a Bidirectional volume)`,
        {
          scenario: { hooks: () => [ourHook({ binary: EXE }), NVIDIA], linux: { rootfsPropagation: p } },
          expect: (t: Test, seen: Seen) => t.same(seen, { status: 128, refused: `root mount propagation option must specify private or slave: "${p}"` }, 'refused before any hook'),
        },
      ]),
    ),
    ...Object.fromEntries(
      ['rslave', 'private'].map(p => [
        `rootfsPropagation ${p}`,
        {
          scenario: { hooks: () => [ourHook({ binary: EXE }), NVIDIA], linux: { rootfsPropagation: p } },
          expect: (t: Test, seen: Seen) => t.match(seen, { status: 0, mounts: MOUNTED }),
        },
      ]),
    ),
  }

  for (const [name, { scenario, expect, realMayFail }] of Object.entries(SCENARIOS)) {
    t.test(name, async t => {
      const emulation = emulated(scenario)
      expect(t, emulation)
      for (const r of tools.runsc) {
        const seen = real(r, scenario)
        if (realMayFail !== undefined && seen.failure === realMayFail) {
          t.comment(`runsc ${r.release}: the gofer died of "${realMayFail}" this time`)
          t.same({ ...seen, failure: emulation.failure }, emulation, `runsc ${r.release} shows what the emulation shows, but for the gofer's words`)
        } else t.same(seen, emulation, `runsc ${r.release} shows what the emulation shows`)
      }
    })
  }
}

const tools = findRealTools()
if (typeof tools === 'string') t.plan(0, tools)
else main(tools)
