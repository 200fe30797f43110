import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync, spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { DEFAULT_SPEC_DIRS } from '../../src/host-layout'
import { DEFAULT_BINARY } from '../../src/registration'
import { detachUnder } from '../harness/scratch'

// The package's systemd units (systemd/), as systemd reads them:
// `systemd-analyze verify` with the commands they run resolvable (stand-ins
// overlaid onto this namespace's /usr/bin) and the man page they name
// reachable; the drop-in with a stand-in for NVIDIA's nvidia-cdi-refresh.service
// (toolkit >= 1.18, as nvidia.md describes it) beside it.

const UNITS = resolve('systemd')
const WATCH = 'nvidia-procfs-hook-cdi-watch.service'
const DROP_IN = 'nvidia-cdi-refresh.service.d/nvidia-procfs-hook.conf'
const REFRESH_STAND_IN = `[Unit]
Description=Refresh NVIDIA CDI specification file (stand-in for NVIDIA's)

[Service]
Type=oneshot
Environment=NVIDIA_CTK_CDI_OUTPUT_FILE_PATH=/var/run/cdi/nvidia.yaml
EnvironmentFile=-/etc/nvidia-container-toolkit/nvidia-cdi-refresh.env
ExecStart=/usr/bin/nvidia-ctk cdi generate --output=\${NVIDIA_CTK_CDI_OUTPUT_FILE_PATH}
Restart=on-failure

[Install]
WantedBy=multi-user.target
`

const hasAnalyze = spawnSync('/usr/bin/systemd-analyze', ['--version']).error === undefined
const skip = hasAnalyze ? false : 'systemd-analyze is not installed (apt-get install systemd)'

const work = mkdtempSync(join(tmpdir(), 'nph-units-'))
t.teardown(() => {
  detachUnder(work)
  rmSync(work, { recursive: true, force: true })
})

/** This namespace's /usr/bin with executable stand-ins for `names` on top (an overlay whose upper layer is a tmpfs). */
const overlayUsrBin = (t: Test, names: string[]) => {
  const layer = join(work, 'usr-bin')
  mkdirSync(layer)
  execFileSync('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'mode=0755,size=1m', 'nph-test-units', layer])
  mkdirSync(join(layer, 'upper'))
  mkdirSync(join(layer, 'work'))
  for (const name of names) {
    writeFileSync(join(layer, 'upper', name), '#!/bin/sh\nexit 0\n')
    chmodSync(join(layer, 'upper', name), 0o755)
  }
  execFileSync('/usr/bin/mount', ['-t', 'overlay', '-o', `lowerdir=/usr/bin,upperdir=${layer}/upper,workdir=${layer}/work`, 'nph-test-units', '/usr/bin'])
  // Lazily: the namespace's own processes may still hold it.
  t.teardown(() => execFileSync('/usr/bin/umount', ['-l', '/usr/bin']))
}

/** `systemd-analyze verify` on unit files in `dir`; its exit status and everything it said. */
const verify = (dir: string, units: string[]) => {
  const man = join(work, 'man')
  mkdirSync(join(man, 'man1'), { recursive: true })
  copyFileSync(resolve('man/nvidia-procfs-hook.1'), join(man, 'man1/nvidia-procfs-hook.1'))
  const res = spawnSync('/usr/bin/systemd-analyze', ['verify', ...units.map(u => `./${u}`)], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', MANPATH: man, LC_ALL: 'C', SYSTEMD_LOG_COLOR: '0' },
  })
  return { status: res.status, said: (res.stdout + res.stderr).trim() }
}

t.test('the watcher unit', async t => {
  const text = readFileSync(join(UNITS, WATCH), 'utf8')
  t.match(text, `\nExecStart=${DEFAULT_BINARY} cdi patch --watch ${DEFAULT_SPEC_DIRS.join(' ')}\n`, 'the package\'s binary, on the directories CDI reads')
  t.match(text, '\nRestart=on-failure\n', 'restarted when it cannot keep watching (exit 1)')
  t.match(text, '\nProtectSystem=strict\n')
  t.match(text, '\nConfigurationDirectory=cdi\nRuntimeDirectory=cdi\nRuntimeDirectoryPreserve=yes\n', 'the two spec directories, and nothing else, writable; /run/cdi kept on stop')
  t.match(text, '\nCapabilityBoundingSet=CAP_CHOWN CAP_FOWNER\n', 'what test/system/cdi-watch.ts found an atomic replace keeping owner and mode needs')
  for (const line of ['NoNewPrivileges=yes', 'PrivateTmp=yes', 'ProtectHome=yes', 'PrivateNetwork=yes', 'PrivateDevices=yes']) t.match(text, `\n${line}\n`)
  t.notMatch(text, /^ReadWritePaths=/m, 'no other writable path')
})

t.test('the drop-in for nvidia-cdi-refresh.service', async t => {
  const text = readFileSync(join(UNITS, DROP_IN), 'utf8')
  // Unbraced: an unset variable is no argument at all (systemd.service(5)), and `cdi patch` then takes its default directories.
  t.match(text, `\n[Service]\nExecStartPost=${DEFAULT_BINARY} cdi patch $NVIDIA_CTK_CDI_OUTPUT_FILE_PATH\n`, 'patches what the refresh just wrote, before the unit is done')
  t.notMatch(text, /ExecStartPost=-/, 'a failed patch fails the unit')
})

t.test('systemd-analyze verify: both units as systemd reads them', { skip }, async t => {
  const units = join(work, 'units')
  cpSync(UNITS, units, { recursive: true })
  writeFileSync(join(units, 'nvidia-cdi-refresh.service'), REFRESH_STAND_IN)
  // The binary must be where the units say: without it, verify says so.
  t.match(verify(units, [WATCH]), { status: 1, said: /Command \/usr\/bin\/nvidia-procfs-hook is not executable/ }, 'verify checks the command')

  overlayUsrBin(t, ['nvidia-procfs-hook', 'nvidia-ctk'])
  t.same(verify(units, [WATCH, 'nvidia-cdi-refresh.service']), { status: 0, said: '' }, 'no complaint')
  // The drop-in is read: a broken copy of it is named.
  const broken = join(work, 'broken')
  cpSync(units, broken, { recursive: true })
  writeFileSync(join(broken, DROP_IN), readFileSync(join(UNITS, DROP_IN), 'utf8').replace('ExecStartPost=/usr/bin/', 'ExecStartPost=usr/bin/'))
  t.match(verify(broken, ['nvidia-cdi-refresh.service']).said, `${DROP_IN}:`, 'the drop-in is loaded with the unit')
})
