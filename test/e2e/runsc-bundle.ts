// gVisor's real runsc, both releases (test/harness/real-tools.ts), running a
// plain OCI bundle with `runsc run`, and NVIDIA's real v1.20 hook in both
// forms at the path its spec names, against a fake driver whose params say
// `ModifyDeviceFiles: 1` (the gofer sees the host's /proc). For each release
// x form x root.readonly: with our entry first, the container runs, both
// hooks succeed in the gofer (its debug log), and a probe hook after them
// sees our bind read-only in the gofer's mount namespace; without it, the
// sandbox fails as users see it, the cause only in the gofer's log. Nothing
// is left: mounts, runsc state, processes. util-linux is this machine's
// (2.38); test/e2e/runsc-util-linux.ts runs this file in the trixie (2.41)
// and sid (2.42) roots.
import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()
// Each real sandbox takes a fraction of a second; a loaded machine, more than tap's 30 s for the file.
t.setTimeout(300_000)

import { closeSync, cpSync, mkdtempSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { writeBusyboxRootfs } from '../harness/busybox-rootfs'
import { FAKE_PARAMS } from '../harness/fake-driver'
import { findRealTools, goferLog, placeFiles, processesNaming, type RealTools, type Runsc } from '../harness/real-tools'
import { containerWork, mountsUnder } from '../harness/scratch'
import { EXE } from '../harness/target'
import { ourHook } from '../../src/registration'
import { parseMountinfo } from '../../src/mountinfo'

/** NVIDIA's two forms of the hook, as `nvidia-ctk cdi generate` writes them (nvidia.md). */
const FORMS = {
  'nvidia-ctk': { path: '/usr/bin/nvidia-ctk', args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] },
  'nvidia-cdi-hook': { path: '/usr/bin/nvidia-cdi-hook', args: ['nvidia-cdi-hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] },
}
type Form = keyof typeof FORMS

/** runsc's own environment: none of tap's (a hook without `env` would get it). */
const RUNSC_ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' }

const main = (tools: RealTools) => {
  const work = containerWork(t, 'nph-e2e-runsc-bundle-')
  // One busybox rootfs, copied for each run.
  const template = join(work, 'rootfs')
  writeBusyboxRootfs(template)
  placeFiles(t, { '/usr/bin/nvidia-ctk': tools.toolkit.nvidiaCtk, '/usr/bin/nvidia-cdi-hook': tools.toolkit.nvidiaCdiHook })
  const util = spawnSync('/usr/bin/mount', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]
  t.comment(`${util}; NVIDIA's hooks from ${tools.toolkit.from}`)

  /** One `runsc run` of a busybox bundle; what a user and an operator can look at afterwards. */
  const run = (r: Runsc, form: Form, opts: { ours: boolean; readonly: boolean }) => {
    const dir = mkdtempSync(join(work, `${r.release}-`))
    const bundle = join(dir, 'bundle')
    const rootfs = join(bundle, 'rootfs')
    cpSync(template, rootfs, { recursive: true, verbatimSymlinks: true })
    const state = join(dir, 'state')
    const logs = join(dir, 'logs')
    const hookLog = join(dir, 'hook.log')
    const seen = join(dir, 'gofer-mountinfo')
    const made = spawnSync(r.runsc, ['spec', '--', '/bin/sh', '-c', 'echo container-ran'], { cwd: bundle, encoding: 'utf8' })
    if (made.status !== 0) throw new Error(`runsc spec: ${made.stderr}`)
    const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'))
    config.process.terminal = false
    // runsc 20260520 cannot make its filestore under a relative root.path
    // when the root is writable (runtimes.md): give it the absolute path then.
    config.root = { path: opts.readonly ? 'rootfs' : rootfs, readonly: opts.readonly }
    // A probe after NVIDIA's hook: the gofer's mount table, as the gofer has it.
    const probe = { path: '/bin/sh', args: ['sh', '-c', `cat /proc/self/mountinfo > ${seen}`], env: ['PATH=/usr/bin:/bin'] }
    config.hooks = { createContainer: [...(opts.ours ? [ourHook({ binary: EXE, logFile: hookLog })] : []), FORMS[form], probe] }
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config))
    const id = `nph-${r.release}-${process.pid}`
    const out = openSync(join(dir, 'out'), 'w')
    const err = openSync(join(dir, 'err'), 'w')
    const began = process.hrtime.bigint()
    // The sandbox keeps its stdio: files, not pipes we would wait on.
    const res = spawnSync(r.runsc, ['--root', state, '--debug', `--debug-log=${logs}/`, 'run', '--bundle', bundle, id], { stdio: ['ignore', out, err], env: RUNSC_ENV, timeout: 60_000 })
    const ms = Number(process.hrtime.bigint() - began) / 1e6
    closeSync(out)
    closeSync(err)
    const text = (f: string) => {
      try {
        return readFileSync(join(dir, f), 'utf8')
      } catch (er) {
        if ((er as NodeJS.ErrnoException).code === 'ENOENT') return undefined
        throw er
      }
    }
    return { dir, rootfs, state, status: res.status, ms, out: text('out'), err: text('err'), gofer: goferLog(logs), seen: text('gofer-mountinfo'), hookLog: text('hook.log') }
  }

  /** Nothing left: mounts under the case's directory (runsc 20260822's null-netns bind is its own, by design), runsc state, processes. */
  const nothingLeft = (t: Test, r: Runsc, res: ReturnType<typeof run>) => {
    const netns = r.release === '20260822' ? ['null-netns'] : []
    t.same(mountsUnder(res.dir), netns.map(n => join(res.state, n)), `mounts: ${netns.length ? "only runsc's null-netns" : 'none'}`)
    t.same(readdirSync(res.state), netns, `runsc state: ${netns.length ? 'only null-netns' : 'empty'}`)
    t.same(processesNaming(res.dir), [], 'no runsc, gofer or sandbox process left')
    t.same(runscList(r, res.state), [], 'runsc list: no container')
  }
  const runscList = (r: Runsc, state: string) => JSON.parse(spawnSync(r.runsc, ['--root', state, 'list', '--format=json'], { encoding: 'utf8', env: RUNSC_ENV }).stdout || '[]') ?? []

  for (const r of tools.runsc) {
    t.test(`runsc ${r.release} (${r.runsc})`, async t => {
      t.comment(spawnSync(r.runsc, ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0] ?? '')
      for (const form of Object.keys(FORMS) as Form[]) {
        const nvidia = FORMS[form].path
        const skipped = r.skipsCdiHookForm && form === 'nvidia-cdi-hook'
        for (const readonly of [true, false]) {
          t.test(`${form}, root.readonly ${readonly}, our entry first`, async t => {
            const res = run(r, form, { ours: true, readonly })
            t.comment(`runsc run: ${res.ms.toFixed(0)} ms`)
            t.equal(res.status, 0, `runsc run exits 0 (${res.err?.trim()})`)
            t.equal(res.out, 'container-ran\n', 'the container ran')
            t.match(res.gofer, `Execute hook "${EXE}" success!`, 'our hook succeeded in the gofer')
            if (skipped) t.match(res.gofer, "Skipping nvidia-cdi-hook's disable-device-node-modification command", 'this runsc skips the nvidia-cdi-hook form itself')
            else t.match(res.gofer, `Execute hook "${nvidia}" success!`, "NVIDIA's hook succeeded in the gofer")
            t.match(JSON.parse(res.hookLog ?? '{}'), { stage: 'createContainer', action: 'mounted', rootfs: res.rootfs, exitCode: 0 }, 'our log: mounted')
            const gofer = parseMountinfo(res.seen ?? '')
            t.match(gofer.find(m => m.mountPoint === `${res.rootfs}/proc/driver/nvidia`)?.options.slice(0, 4), ['ro', 'nosuid', 'nodev', 'noexec'], "our bind is read-only in the gofer's mount namespace")
            if (!skipped) t.ok(gofer.some(m => m.mountPoint === `${res.rootfs}/proc/driver/nvidia/params`), "NVIDIA's modified params bound over it")
            nothingLeft(t, r, res)
            t.equal(readFileSync('/proc/driver/nvidia/params', 'utf8'), FAKE_PARAMS, "the host's params untouched")
          })
        }
        t.test(`${form}, without our entry`, async t => {
          const res = run(r, form, { ours: false, readonly: true })
          t.comment(`runsc run: ${res.ms.toFixed(0)} ms`)
          if (skipped) {
            t.equal(res.status, 0, `this runsc skips the nvidia-cdi-hook form itself: runs (${res.err?.trim()})`)
            t.equal(res.out, 'container-ran\n')
            t.match(res.gofer, "Skipping nvidia-cdi-hook's disable-device-node-modification command")
          } else {
            t.equal(res.status, 128, 'runsc run exits 128')
            t.equal(res.out, '', 'the container never ran')
            t.match(res.err, 'cannot create sandbox: cannot read client sync file: waiting for sandbox to start: EOF', 'what the user sees names neither NVIDIA nor the hook')
            t.notMatch(res.err, /nvidia/i)
            t.match(res.gofer, `FATAL ERROR: error executing CreateContainer hooks: failure executing hook "${nvidia}", err: exit status 1`, "the gofer's log names NVIDIA's hook")
            t.match(res.gofer, `open ${res.rootfs}/proc/driver/nvidia/params: no such file or directory`, '… and the missing params')
            t.equal(res.seen, undefined, 'no hook after it ran')
          }
          nothingLeft(t, r, res)
        })
      }
    })
  }
}

const tools = findRealTools()
if (typeof tools === 'string') t.plan(0, tools)
else main(tools)
