// Soak: create/hook/delete cycles with real runc (our hook as createRuntime
// and createContainer: it must skip, runc's container has a procfs) and with
// the gofer emulation (our hook mounts, NVIDIA's stand-in follows). After
// them: no mount left in this (the runtime's) namespace, no process left, no
// file descriptor gained, and every run accounted for in the hook's log.
//   NPH_SOAK_CYCLES (runc, default 100), NPH_SOAK_GOFER_CYCLES (default 30);
//   `npm run soak` runs 1,000 of each.
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'

const RUNC_CYCLES = Number(process.env.NPH_SOAK_CYCLES ?? 100)
const GOFER_CYCLES = Number(process.env.NPH_SOAK_GOFER_CYCLES ?? 30)
// Before the re-run, and sized to the cycles: tap's default 30 s is far too short.
t.setTimeout(120_000 + (RUNC_CYCLES + GOFER_CYCLES) * 2_000)
enterPrivateMountNamespace()

import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, realpathSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { writeBusyboxRootfs } from '../harness/busybox-rootfs'
import { HOOK } from '../harness/containment'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { scratchBundle } from '../harness/scratch'
import { ourHook } from '../../src/registration'
import type { Stage } from '../../src/placement'

const GOFER = resolve(__dirname, '../harness/gofer-emulation.mjs')
const STAND_IN = resolve(__dirname, '../harness/nvidia-hook-stand-in.mjs')

mountFakeDriver()
t.teardown(unmountFakeDriver)

// The entry as registration writes it, pointed at the built executable.
const hook = (stage: Stage, logFile: string) => ourHook({ binary: HOOK, logFile, stage })

const fdCount = () => readdirSync('/proc/self/fd').length
const mountTable = () => readFileSync('/proc/self/mountinfo', 'utf8')

/** Processes that belong to a cycle: our executable, runc, the gofer, or anything rooted in `rootfs`. */
const leftovers = (rootfs: string) => {
  const real = realpathSync(rootfs)
  const found: string[] = []
  for (const pid of readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      const root = readlinkSync(`/proc/${pid}/root`)
      if (root === real || cmd.includes(HOOK) || cmd.includes(GOFER) || /^runc /.test(cmd)) found.push(`${pid}: ${cmd}`)
    } catch {
      // Gone while we looked.
    }
  }
  return found
}

const records = (log: string) => readFileSync(log, 'utf8').trim().split('\n').map(l => JSON.parse(l) as { stage: string; action: string })
const countBy = (rs: { stage: string; action: string }[]) => {
  const by: Record<string, number> = {}
  for (const r of rs) by[`${r.stage} ${r.action}`] = (by[`${r.stage} ${r.action}`] ?? 0) + 1
  return by
}

t.test(`${RUNC_CYCLES} runc create/hook/delete cycles: nothing left`, async t => {
  const { bundle, rootfs } = scratchBundle(t)
  writeBusyboxRootfs(rootfs)
  const runcRoot = mkdtempSync(join(tmpdir(), 'nph-soak-runc-'))
  t.teardown(() => rmSync(runcRoot, { recursive: true, force: true }))
  const log = join(bundle, 'hook.log')
  rmSync(join(bundle, 'config.json'))
  t.equal(spawnSync('/usr/bin/runc', ['spec', '--bundle', bundle]).status, 0, 'runc spec')
  const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'))
  config.process.terminal = false
  config.process.args = ['sleep', '1000']
  config.hooks = { createRuntime: [hook('createRuntime', log)], createContainer: [hook('createContainer', log)] }
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config))

  const mountsBefore = mountTable()
  const fdsBefore = fdCount()
  const failures: string[] = []
  const began = Date.now()
  for (let i = 0; i < RUNC_CYCLES; i++) {
    const id = `nph-soak-${process.pid}-${i}`
    // The container's stdio goes nowhere: its init would hold our pipes open until it dies.
    const create = spawnSync('/usr/bin/runc', ['--root', runcRoot, 'create', '--bundle', bundle, id], { encoding: 'utf8', timeout: 60_000, stdio: 'ignore' })
    const del = spawnSync('/usr/bin/runc', ['--root', runcRoot, 'delete', '--force', id], { encoding: 'utf8', timeout: 60_000 })
    if (create.status !== 0 || del.status !== 0) failures.push(`cycle ${i}: create ${create.status ?? create.signal}; delete ${del.status} ${del.stderr.trim()}`)
  }
  const ms = Date.now() - began
  const fdsAfter = fdCount()
  const by = countBy(records(log))
  t.comment(`runc: ${RUNC_CYCLES} cycles in ${ms} ms (${(ms / RUNC_CYCLES).toFixed(1)} ms each); fds ${fdsBefore} -> ${fdsAfter}; ${JSON.stringify(by)}`)
  t.same(failures.slice(0, 10), [], 'every cycle created and deleted')
  t.same(by, { 'createRuntime skipped': RUNC_CYCLES, 'createContainer skipped': RUNC_CYCLES }, 'every hook run logged, all skips (runc gives the container a procfs)')
  t.equal(mountTable(), mountsBefore, 'the runtime namespace\'s mount table is unchanged')
  t.same(leftovers(rootfs), [], 'no process left')
  t.same(readdirSync(runcRoot), [], 'no container left in runc\'s state')
  t.equal(fdsAfter, fdsBefore, 'no file descriptor gained')
})

t.test(`${GOFER_CYCLES} gofer-emulation cycles with NVIDIA's stand-in: mounted every time, nothing left outside`, async t => {
  const { bundle, rootfs } = scratchBundle(t)
  const log = join(bundle, 'hook.log')
  const nvidias = { path: STAND_IN, args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] }
  writeFileSync(join(bundle, 'config.json'), JSON.stringify({ ociVersion: '1.0.2', root: { path: 'rootfs' }, hooks: { createContainer: [hook('createContainer', log), nvidias] } }))
  const mountsBefore = mountTable()
  const fdsBefore = fdCount()
  const failures: string[] = []
  const began = Date.now()
  for (let i = 0; i < GOFER_CYCLES; i++) {
    const r = spawnSync(process.execPath, [GOFER, bundle, `soak-${i}`], { encoding: 'utf8', timeout: 60_000 })
    const report = r.status === 0 ? (JSON.parse(r.stdout) as { ok: boolean; params: string; mounts: { mountPoint: string; options: string }[] }) : undefined
    const ours = report?.mounts.find(m => m.mountPoint === '/proc/driver/nvidia')
    if (!report?.ok || !/^ModifyDeviceFiles: 0$/m.test(report.params) || !ours?.options.split(',').includes('ro')) {
      failures.push(`cycle ${i}: exit ${r.status}; ${r.stderr.trim().slice(0, 300)}`)
    }
    // What the gofer's namespace made dies with it; what stays on disk is the hook's directories.
    rmSync(join(rootfs, 'proc'), { recursive: true, force: true })
    rmSync(join(rootfs, 'run'), { recursive: true, force: true })
  }
  const ms = Date.now() - began
  const fdsAfter = fdCount()
  const by = countBy(records(log))
  t.comment(`gofer: ${GOFER_CYCLES} cycles in ${ms} ms (${(ms / GOFER_CYCLES).toFixed(1)} ms each); fds ${fdsBefore} -> ${fdsAfter}; ${JSON.stringify(by)}`)
  t.same(failures.slice(0, 10), [], 'every cycle: NVIDIA\'s hook found params through our read-only mount')
  t.same(by, { 'createContainer mounted': GOFER_CYCLES }, 'every hook run logged, all mounted')
  t.equal(mountTable(), mountsBefore, 'no mount leaked out of the gofer\'s namespace')
  t.same(leftovers(rootfs), [], 'no process left')
  t.equal(fdsAfter, fdsBefore, 'no file descriptor gained')
})
