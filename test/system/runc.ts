import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { writeBusyboxRootfs } from '../harness/busybox-rootfs'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { scratchBundle } from '../harness/scratch'
import { ourHook } from '../../src/registration'
import type { Stage } from '../../src/placement'

// Real runc from Debian: createContainer runs in the container's namespace
// with a fresh procfs already at <rootfs>/proc, and createRuntime runs in the
// host's with the container's pid. Either way there is nothing to mount, and
// nothing may be left in the host's (here: this test's) namespace.
const EXE = resolve('dist/nvidia-procfs-hook')
const runcRoot = mkdtempSync(join(tmpdir(), 'nph-runc-'))
t.teardown(() => spawnSync('/usr/bin/rm', ['-rf', runcRoot]))

mountFakeDriver()
t.teardown(unmountFakeDriver)

// The entry as registration writes it, pointed at the built executable.
const hook = (stage: Stage, logFile: string) => ourHook({ binary: EXE, logFile, stage })

t.test('runc runs the container; our hook reports the procfs skip; no mount leaks', async t => {
  const { bundle, rootfs } = scratchBundle(t)
  writeBusyboxRootfs(rootfs)
  const log = join(bundle, 'hook.log')
  rmSync(join(bundle, 'config.json'))
  const spec = spawnSync('/usr/bin/runc', ['spec', '--bundle', bundle], { encoding: 'utf8' })
  t.equal(spec.status, 0, spec.stderr)
  const config = JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8'))
  config.process.terminal = false
  config.process.args = ['sh', '-c', 'test -e /proc/driver/nvidia && echo driver-visible || echo no-driver-in-container-procfs']
  config.hooks = { createRuntime: [hook('createRuntime', log)], createContainer: [hook('createContainer', log)] }
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(config))
  const mountsBefore = readFileSync('/proc/self/mountinfo', 'utf8')
  const id = `nph-runc-${process.pid}`
  const run = spawnSync('/usr/bin/runc', ['--root', runcRoot, 'run', '--bundle', bundle, id], { encoding: 'utf8', timeout: 60_000 })
  spawnSync('/usr/bin/runc', ['--root', runcRoot, 'delete', '--force', id])
  t.equal(run.status, 0, run.stderr)
  t.equal(run.stdout, 'no-driver-in-container-procfs\n')
  const records = readFileSync(log, 'utf8').trim().split('\n').map(l => JSON.parse(l))
  t.match(records, [
    { stage: 'createRuntime', id, action: 'skipped', reason: /is a procfs without driver\/nvidia; never mounting over a procfs/ },
    { stage: 'createContainer', id, action: 'skipped', reason: /is a procfs without driver\/nvidia; never mounting over a procfs/ },
  ])
  t.equal(records.length, 2)
  t.equal(readFileSync('/proc/self/mountinfo', 'utf8'), mountsBefore, 'the runtime namespace\'s mount table is unchanged')
})
