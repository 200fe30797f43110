import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()
// Each real sandbox takes a fraction of a second; a loaded machine, more than tap's 30 s for the file.
t.setTimeout(300_000)

import { spawnSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { writeBusyboxRootfs } from '../harness/busybox-rootfs'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { findRealTools } from '../harness/real-tools'
import { detachUnder, mountsUnder } from '../harness/scratch'

// runsc 20221219 from Debian, and the real 20260520 and 20260822 where they
// are found (test/harness/real-tools.ts), registered through our prestart and
// createRuntime hooks.d files. Debian's skips createContainer hooks
// altogether, and under any runsc those two stages run after the gofer would
// have run them: our hook can only say so. The sandbox must still run, and
// nothing may stay mounted on the host (here: this test's namespace) once it
// is deleted.
const EXE = resolve('dist/nvidia-procfs-hook')
const work = mkdtempSync(join(tmpdir(), 'nph-e2e-runsc-'))
t.teardown(() => {
  detachUnder(work)
  rmSync(work, { recursive: true, force: true })
})
mountFakeDriver()
t.teardown(unmountFakeDriver)

/** Debian's runsc (ptrace: systrap is unknown to it), and the real ones where found. */
const found = findRealTools()
const RUNSCS = [
  { name: 'runsc 20221219 (Debian)', binary: '/usr/bin/runsc', flags: ['--platform=ptrace', '--network=none'] },
  ...(typeof found === 'string' ? [] : found.runsc.map(r => ({ name: `runsc ${r.release} (real)`, binary: r.runsc, flags: [] }))),
]
if (typeof found === 'string') t.comment(`the real runsc: skipped: ${found}`)

for (const { name, binary, flags } of RUNSCS) {
  t.test(`${name} runs the sandbox; our prestart and createRuntime hooks explain why they cannot help`, async t => {
    const dir = mkdtempSync(join(work, 'runsc-'))
    const bundle = join(dir, 'bundle')
    const rootfs = join(bundle, 'rootfs')
    writeBusyboxRootfs(rootfs)
    const log = join(dir, 'hook.log')
    const state = join(dir, 'state')
    const runsc = (...args: string[]) => spawnSync(binary, ['--root', state, ...flags, ...args], { cwd: bundle, encoding: 'utf8', timeout: 60_000 })
    /** create: the sandbox keeps its stdio, so it goes to a file, not a pipe we would wait on. */
    const create = (id: string) => {
      const out = openSync(join(dir, 'container.out'), 'w')
      try {
        return spawnSync(binary, ['--root', state, ...flags, 'create', '--bundle', bundle, id], { cwd: bundle, stdio: ['ignore', out, out], timeout: 60_000 })
      } finally {
        closeSync(out)
      }
    }
    /** A shipped hooks.d file's hook, pointed at this build and a log. */
    const registered = (file: string) => {
      const { hook } = JSON.parse(readFileSync(join('hooks.d', file), 'utf8'))
      return { ...hook, path: EXE, args: [...hook.args, '--log-file', log] }
    }
    t.equal(runsc('spec', '--', '/bin/sh', '-c', 'echo sandbox-ran; sleep 0.3').status, 0)
    const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'))
    config.process.terminal = false
    config.hooks = {
      prestart: [registered('nvidia-procfs-hook-prestart.json')],
      createRuntime: [registered('nvidia-procfs-hook-createruntime.json')],
    }
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config))

    const id = `nph-e2e-${process.pid}`
    const created = create(id)
    t.equal(created.status, 0, 'runsc create')
    t.teardown(() => runsc('delete', '--force', id))
    const started = runsc('start', id)
    t.equal(started.status, 0, started.stderr)
    const waited = runsc('wait', id)
    t.equal(waited.status, 0, waited.stderr)
    t.match(readFileSync(join(dir, 'container.out'), 'utf8'), /^sandbox-ran$/m, 'the sandbox ran the container')

    const records = readFileSync(log, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l))
    t.same(records.map(r => r.stage), ['prestart', 'createRuntime'])
    for (const r of records) {
      t.match(r, {
        id,
        rootfs,
        action: 'skipped',
        exitCode: 0,
        reason: new RegExp(`^under runsc, ${r.stage} runs after the gofer has run the createContainer hooks: too late to help; register nvidia-procfs-hook as a createContainer hook placed before NVIDIA's hooks$`),
      }, `${r.stage}: skipped with the explanation`)
    }

    // runsc 20260822's wait can return before its state says stopped.
    const status = () => (JSON.parse(runsc('state', id).stdout || '{}') as { status?: string }).status
    for (let i = 0; i < 100 && status() !== 'stopped'; i++) await new Promise(res => setTimeout(res, 50))
    t.equal(status(), 'stopped')
    const deleted = runsc('delete', id)
    t.equal(deleted.status, 0, deleted.stderr)
    // runsc 20260822 keeps its shared null network namespace bound in its state directory, by design.
    t.same(mountsUnder(bundle), [], 'nothing mounted under the bundle after delete')
    t.same(mountsUnder(state).filter(m => m !== join(state, 'null-netns')), [], "nothing in runsc's state but its own null-netns")
    t.notOk(readFileSync('/proc/self/mountinfo', 'utf8').includes(`${rootfs}/proc`), 'no mount of ours anywhere')
    t.match(runsc('list').stdout, /^ID\s+PID\s+STATUS\s+BUNDLE\s+CREATED\s+OWNER\s*$/, 'no container left')
  })
}
