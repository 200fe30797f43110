import t, { type Test } from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
enterPrivateMountNamespace()

import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { CRIO_HOOKS_FILE, MANIFEST, PODMAN_DROP_IN, PODMAN_HOOKS_DIR, PODMAN_HOOKS_FILE_NAME } from '../../src/host-layout'
import { writeBusyboxRootfs } from '../harness/busybox-rootfs'
import { setSpecDir } from '../harness/cdi-dirs'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { configCapture, hideHybridCgroup2, podman } from '../harness/podman'
import { goferOnConfig } from '../harness/gofer-run'
import { detachUnder, mountsUnder } from '../harness/scratch'
import { isNvidiaHook, isOurHook, ourHook } from '../../src/registration'

// podman 4.3 with runc 1.1.5 and crun 1.8.1 from Debian, a CDI spec of
// NVIDIA's shape whose NVIDIA hook is the stand-in (named nvidia-ctk), and
// our entry brought in two ways: the hooks.d precreate file, or `cdi patch`.
// A createContainer hook from hooks.d (podman appends those after CDI's)
// captures the config.json the runtime got.
const EXE = resolve('dist/nvidia-procfs-hook')
const STAND_IN = resolve('test/harness/nvidia-hook-stand-in.mjs')
const RUNTIMES = ['runc', 'crun'] as const

const work = mkdtempSync(join(tmpdir(), 'nph-e2e-podman-'))
t.teardown(() => {
  detachUnder(work)
  rmSync(work, { recursive: true, force: true })
})
hideHybridCgroup2()
// Under runc/crun the container gets a fresh procfs before createContainer,
// and a fake driver tree cannot enter the kernel's procfs: with
// ModifyDeviceFiles 1 the stand-in would fail there on any host without a
// real driver (shown below). 0 sends it down its "nothing to do" path.
mountFakeDriver(0)

const rootfs = join(work, 'rootfs')
writeBusyboxRootfs(rootfs)
const bin = join(work, 'bin')
mkdirSync(bin)
symlinkSync(STAND_IN, join(bin, 'nvidia-ctk'))
const OTHER = { path: '/usr/bin/true', args: ['true'], env: ['OTHER_VENDOR=1'] }
const NVIDIA = { path: join(bin, 'nvidia-ctk'), args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] }
const flow = (h: { path: string; args: string[]; env: string[] }) => `{hookName: createContainer, path: ${h.path}, args: [${h.args.join(', ')}], env: [${h.env.join(', ')}]}`
const SPEC = `# NVIDIA's shape (nvidia-ctk cdi generate), its hook a stand-in; another vendor's hook first
cdiVersion: 0.5.0
kind: nvidia.com/gpu
devices:
- name: "0"
  containerEdits:
    env: [GPU_UNDER_TEST=0]
- name: all
  containerEdits:
    env: [GPU_UNDER_TEST=all]
containerEdits:
  env: [NVIDIA_VISIBLE_DEVICES=void]
  hooks:
  - ${flow(OTHER)}
  - ${flow(NVIDIA)}
`
const cdi = join(work, 'cdi')
mkdirSync(cdi)
const specFile = join(cdi, 'nvidia.yaml')
writeFileSync(specFile, SPEC)
t.teardown(setSpecDir('/etc/cdi', cdi))
t.teardown(setSpecDir('/var/run/cdi'))

const log = join(work, 'hook.log')
const captured = join(work, 'captured')
const capture = configCapture(work, captured)
const ours = ourHook({ binary: EXE, logFile: log })

// The shipped precreate file, pointed at this build and a log.
const shipped = JSON.parse(readFileSync('hooks.d/nvidia-procfs-hook.json', 'utf8'))
const hooksDir = (name: string, files: Record<string, unknown>) => {
  const dir = join(work, name)
  mkdirSync(dir)
  for (const [f, v] of Object.entries(files)) writeFileSync(join(dir, f), JSON.stringify(v))
  return dir
}
const withPrecreate = hooksDir('hooks-precreate', {
  'nvidia-procfs-hook.json': { ...shipped, hook: { ...shipped.hook, path: EXE, args: [...shipped.hook.args, '--binary', EXE, '--log-file', log] } },
  'zz-capture.json': capture,
})
const captureOnly = hooksDir('hooks-capture', { 'zz-capture.json': capture })

const pm = podman(join(work, 'podman'))
const kind = (h: { path: string }) => (isOurHook(h) ? 'ours' : isNvidiaHook(h) ? 'nvidia' : h.path === capture.hook.path ? 'capture' : h.path)

interface Run {
  config: { hooks: { createContainer: { path: string }[] } }
  /** config.json's text as the runtime got it. */
  text: string
  records: Record<string, unknown>[]
  id: string
  stdout: string
}

/** One container; returns the config.json the runtime ran and our hook's log records. */
const runContainer = (t: Test, runtime: (typeof RUNTIMES)[number], dir: string, expectStart = true, flags: string[] = []): Run => {
  rmSync(captured, { recursive: true, force: true })
  mkdirSync(captured)
  writeFileSync(log, '')
  const res = pm.run({ runtime, hooksDir: dir, device: 'nvidia.com/gpu=0', rootfs, flags, argv: ['/bin/sh', '-c', 'echo container-started; echo "GPU_UNDER_TEST=$GPU_UNDER_TEST"'] })
  if (expectStart) {
    t.equal(res.status, 0, `${runtime}: podman run exits 0 (${res.stderr.trim()})`)
    t.match(res.stdout, /container-started\nGPU_UNDER_TEST=0\n/, `${runtime}: the container started, with the CDI device's edits`)
  }
  const [file] = readdirSync(captured)
  const records = readFileSync(log, 'utf8').split('\n').filter(Boolean).map(l => JSON.parse(l) as Record<string, unknown>)
  const text = file ? readFileSync(join(captured, file), 'utf8') : ''
  return { config: file ? JSON.parse(text) : undefined, text, records, id: basename(file ?? '', '.json'), stdout: res.stdout + res.stderr }
}

const checkRun = (t: Test, runtime: string, run: Run) => {
  const list = run.config.hooks.createContainer
  t.same(list.map(kind), ['/usr/bin/true', 'ours', 'nvidia', 'capture'], `${runtime}: our entry right before NVIDIA's, after the other vendor's`)
  t.same(list[1], ours, `${runtime}: exactly our entry (absolute binary, fixed env, log file)`)
  t.same(list[2], NVIDIA, `${runtime}: NVIDIA's entry untouched`)
  t.equal(run.records.length, 1, `${runtime}: our hook ran once`)
  t.match(run.records[0], {
    id: run.id,
    stage: 'createContainer',
    rootfs,
    action: 'skipped',
    reason: /proc is a procfs without driver\/nvidia; never mounting over a procfs$/,
    exitCode: 0,
  }, `${runtime}: it found the runtime's fresh procfs and skipped`)
}

const configs: Record<string, Run['config']> = {}

t.test('the engine and runtimes under test', async t => {
  for (const tool of ['podman', 'runc', 'crun']) {
    const v = spawnSync(`/usr/bin/${tool}`, ['--version'], { encoding: 'utf8' })
    t.equal(v.status, 0, `${tool} runs`)
    t.comment(v.stdout.split('\n')[0])
  }
})

t.test('hooks.d precreate: podman puts our entry right before NVIDIA\'s CDI hook', async t => {
  for (const runtime of RUNTIMES) {
    const run = runContainer(t, runtime, withPrecreate)
    checkRun(t, runtime, run)
    configs[`precreate-${runtime}`] = run.config
  }
  t.equal(readFileSync(specFile, 'utf8'), SPEC, 'the spec itself is not touched')
})

t.test('hooks.d precreate with --ulimit core=-1:-1 (2^64-1 in config.json): the number reaches the runtime exact, the container starts', async t => {
  // NVIDIA advises memlock=-1 for GPU and NCCL containers; raising memlock
  // needs CAP_SYS_RESOURCE, which this machine lacks, and core takes the same
  // path. Any --ulimit drops containers.conf's default_ulimits: name them again.
  const ulimits = ['--ulimit', 'core=-1:-1', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096']
  for (const runtime of RUNTIMES) {
    const run = runContainer(t, runtime, withPrecreate, true, ulimits)
    checkRun(t, runtime, run)
    t.match(run.text, /\{"type":"RLIMIT_CORE","hard":18446744073709551615,"soft":18446744073709551615\}/, `${runtime}: RLIMIT_CORE as podman wrote it`)
  }
})

t.test('cdi check fails on the fresh spec; cdi patch fixes it; check passes', async t => {
  const cli = (...args: string[]) => spawnSync(EXE, ['cdi', ...args], { encoding: 'utf8' })
  const fresh = cli('check', cdi)
  t.equal(fresh.status, 1)
  t.equal(fresh.stdout, `${specFile}: needs patching: containerEdits.hooks: no nvidia-procfs-hook before NVIDIA's hooks\n`)
  const patched = cli('patch', '--binary', EXE, '--log-file', log)
  t.equal(patched.status, 0, patched.stderr)
  t.equal(patched.stdout, `patched /etc/cdi/nvidia.yaml (1 hooks list)\n`, 'the default directories, as podman sees them')
  t.equal(readFileSync(specFile, 'utf8'), SPEC.replace(`  - ${flow(NVIDIA)}`, `  - ${flow(ours)}\n  - ${flow(NVIDIA)}`), 'one line added')
  const again = cli('check')
  t.equal(again.status, 0, 'a patched spec passes check')
  t.equal(again.stdout, '')
  t.equal(cli('patch', '--binary', EXE, '--log-file', log).stdout, '', 'patching again changes nothing')
})

t.test('patched spec: podman puts our entry right before NVIDIA\'s CDI hook', async t => {
  for (const runtime of RUNTIMES) {
    const run = runContainer(t, runtime, captureOnly)
    checkRun(t, runtime, run)
    configs[`patched-${runtime}`] = run.config
  }
})

t.test('patched spec and precreate together: precreate passes the config through, our hook runs once', async t => {
  const run = runContainer(t, 'runc', withPrecreate)
  checkRun(t, 'runc', run)
  t.same(mountsUnder(work), [], 'podman --rm left nothing mounted')
})

// The packages' files where the packages put them, and install's drop-in,
// read as podman reads its own configuration: no CONTAINERS_CONF (which
// makes podman read that one file), no --hooks-dir. Each directory podman,
// install and the hooks touch is an overlay on a tmpfs in this private mount
// namespace: /usr/bin (the binary), /usr/share (podman's precreate
// directory, CRI-O's file in podman's default hooks directory), /etc/containers
// (the operator's containers.conf, drop-ins), /var/lib (install's record).
/** The packages' hooks.d files (build/package-inputs.mjs HOOKS_D_FILES; test/system/package.ts and rpm.ts check the packages hold them there). */
const HOOKS_D_FILES = [
  [`${PODMAN_HOOKS_DIR}/${PODMAN_HOOKS_FILE_NAME}`, 'hooks.d/nvidia-procfs-hook.json'],
  [CRIO_HOOKS_FILE, 'hooks.d/nvidia-procfs-hook-createcontainer.json'],
] as const
let layers = 0
const overlay = (dir: string, fill: (upper: string) => void) => {
  const layer = join(work, `layer${++layers}`)
  mkdirSync(layer)
  execFileSync('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'nph-e2e-podman', layer])
  mkdirSync(join(layer, 'upper'))
  mkdirSync(join(layer, 'work'))
  fill(join(layer, 'upper'))
  // Mounts below `dir` (the sid root's /usr/bin/node, test/harness/enter-root.sh) would be hidden: kept aside, put back on top.
  const below = mountsUnder(dir).filter(m => m !== dir)
  const kept = below.map((m, i) => {
    const aside = join(layer, `kept${i}`)
    if (statSync(m).isDirectory()) mkdirSync(aside)
    else writeFileSync(aside, '')
    execFileSync('/usr/bin/mount', ['--bind', m, aside])
    return aside
  })
  execFileSync('/usr/bin/mount', ['-t', 'overlay', '-o', `lowerdir=${dir},upperdir=${layer}/upper,workdir=${layer}/work`, 'nph-e2e-podman', dir])
  below.forEach((m, i) => execFileSync('/usr/bin/mount', ['--bind', kept[i] as string, m]))
  return () => {
    // Lazily: podman's exited helpers may still be letting go of files under it.
    for (const m of [...below].reverse()) execFileSync('/usr/bin/umount', ['-l', m])
    execFileSync('/usr/bin/umount', ['-l', dir])
    detachUnder(layer)
  }
}

t.test("the packages' layout and install --hooks-d, as podman reads its own configuration", async t => {
  // An unpatched spec, as NVIDIA writes it; the patched one back afterwards for the tests below.
  const patchedText = readFileSync(specFile, 'utf8')
  writeFileSync(specFile, SPEC)
  t.teardown(() => writeFileSync(specFile, patchedText))
  const operatorHooks = hooksDir('operator-hooks', { 'zz-capture.json': capture })
  for (const [installed, source] of HOOKS_D_FILES) t.ok(existsSync(source), `${installed} from ${source}`)
  const undo: (() => void)[] = []
  t.teardown(() => undo.reverse().forEach(u => u()))
  undo.push(overlay('/usr/bin', upper => copyFileSync(EXE, join(upper, 'nvidia-procfs-hook'))))
  undo.push(overlay('/usr/share', upper => {
    for (const [installed, source] of HOOKS_D_FILES) {
      const file = join(upper, installed.slice('/usr/share/'.length))
      mkdirSync(dirname(file), { recursive: true })
      copyFileSync(source, file)
    }
  }))
  undo.push(overlay('/var/lib', () => {}))
  // The operator's containers.conf: harness/podman.ts's settings, and a hooks directory of their own.
  const base = readFileSync(join(work, 'podman', 'containers.conf'), 'utf8')
  undo.push(
    overlay('/etc/containers', upper =>
      writeFileSync(join(upper, 'containers.conf'), base.replace('[engine]\n', `[engine]\nhooks_dir = ["/usr/share/containers/oci/hooks.d", "${operatorHooks}"]\n`)),
    ),
  )
  const dropIns = '/etc/containers/containers.conf.d'
  const storage = ['--root', join(work, 'podman', 'root'), '--runroot', join(work, 'podman', 'runroot'), '--tmpdir', join(work, 'podman', 'tmp'), '--storage-driver', 'vfs']
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: join(work, 'podman'), PODMAN_IGNORE_CGROUPSV1_WARNING: '1' }
  const major = Number(/version (\d+)\./.exec(spawnSync('/usr/bin/podman', ['--version'], { encoding: 'utf8' }).stdout)?.[1])
  /** One container; the createContainer hooks podman gave the runtime, by kind. */
  const start = (flags: string[] = []) => {
    rmSync(captured, { recursive: true, force: true })
    mkdirSync(captured)
    const res = spawnSync('/usr/bin/podman', [...storage, '--runtime', 'runc', 'run', '--rm', '--network', 'none', '--device', 'nvidia.com/gpu=0', ...flags, '--rootfs', rootfs, '/bin/echo', 'started'], { env, encoding: 'utf8', timeout: 60_000 })
    const [file] = readdirSync(captured)
    const list = file ? (JSON.parse(readFileSync(join(captured, file), 'utf8')).hooks.createContainer as { path: string }[]) : []
    return { status: res.status, out: res.stdout + res.stderr, kinds: list.map(kind), list }
  }
  const packaged = ourHook({ binary: '/usr/bin/nvidia-procfs-hook' })

  const alone = start()
  t.equal(alone.status, 0, `podman run exits 0 (${alone.out.trim()})`)
  t.same(alone.kinds, ['/usr/bin/true', 'nvidia', 'capture'], "the packages alone: podman reads no precreate file (its directory is ours, unnamed) and runs no CRI-O file (its `when` unmatched); the operator's directory read")

  const kubelet = start(['--annotation', 'io.kubernetes.container.hash=5b3c2a1f'])
  t.equal(kubelet.status, 0, `podman run exits 0 (${kubelet.out.trim()})`)
  t.same(kubelet.kinds, ['/usr/bin/true', 'nvidia', 'ours', 'capture'], "with kubelet's annotation podman runs CRI-O's file, after NVIDIA's CDI hooks (podman appends hooks.d's): harmless, our hook skips")
  t.same(kubelet.list[2], packaged)

  mkdirSync('/usr/share/containers/containers.conf.d', { recursive: true })
  writeFileSync('/usr/share/containers/containers.conf.d/nvidia-procfs-hook.conf', `[engine]\nhooks_dir = ["${PODMAN_HOOKS_DIR}"]\n`)
  t.same(start().kinds, ['/usr/bin/true', 'nvidia', 'capture'], 'a drop-in in /usr/share/containers/containers.conf.d is not read: a package cannot enable podman\'s route there')
  rmSync('/usr/share/containers/containers.conf.d', { recursive: true })

  mkdirSync(dropIns, { recursive: true })
  writeFileSync(join(dropIns, 'append.conf'), `[engine]\nhooks_dir = ["${PODMAN_HOOKS_DIR}", {append=true}]\n`)
  const append = start()
  if (major < 5) {
    t.not(append.status, 0, 'podman 4: {append=true} in /etc/containers/containers.conf.d fails every podman command')
    t.match(append.out, /incompatible types: TOML value has type map\[string\]interface \{\}; destination has type string/)
  } else {
    t.equal(append.status, 0, `podman run exits 0 (${append.out.trim()})`)
    t.same(append.kinds, ['/usr/bin/true', 'ours', 'nvidia', 'capture'], 'podman 5: {append=true} appends')
  }
  rmSync(join(dropIns, 'append.conf'))

  const installed = spawnSync('/usr/bin/nvidia-procfs-hook', ['install', '--prefix', '/usr', '--hooks-d'], { encoding: 'utf8', env })
  t.same({ status: installed.status, stdout: installed.stdout, stderr: installed.stderr }, {
    status: 0,
    stdout: `recorded ${MANIFEST}\nwrote ${PODMAN_DROP_IN}\n`,
    stderr: '',
  }, "with the package: install --prefix /usr --hooks-d writes only podman's drop-in")
  t.match(readFileSync(PODMAN_DROP_IN, 'utf8'), `hooks_dir = ["/usr/share/containers/oci/hooks.d", "${operatorHooks}", "${PODMAN_HOOKS_DIR}"]\n`, "the operator's list, then ours")
  const precreated = start()
  t.equal(precreated.status, 0, `podman run exits 0 (${precreated.out.trim()})`)
  t.same(precreated.kinds, ['/usr/bin/true', 'ours', 'nvidia', 'capture'], "podman reads the drop-in: precreate puts our entry right before NVIDIA's; the operator's directory still read")
  t.same(precreated.list[1], packaged)
  t.same(start(['--annotation', 'io.kubernetes.container.hash=5b3c2a1f']).kinds, ['/usr/bin/true', 'ours', 'nvidia', 'ours', 'capture'], "and CRI-O's file, matched, after NVIDIA's: our hook runs again and finds its own mount or the runtime's procfs")

  const uninstalled = spawnSync('/usr/bin/nvidia-procfs-hook', ['uninstall'], { encoding: 'utf8', env })
  t.equal(uninstalled.status, 0, uninstalled.stderr)
  t.notOk(existsSync(PODMAN_DROP_IN), 'uninstall removes the drop-in')
  t.same(start().kinds, ['/usr/bin/true', 'nvidia', 'capture'], 'as before install')
})

t.test('not pretended: under runc a fake driver with ModifyDeviceFiles 1 fails the stand-in, our hook or not', async t => {
  unmountFakeDriver()
  mountFakeDriver(1)
  t.teardown(() => {
    unmountFakeDriver()
    mountFakeDriver(0)
  })
  const run = runContainer(t, 'runc', captureOnly, false)
  t.match(run.stdout, /failed to mount modified params file: open o_path procfd: open .*\/proc\/driver\/nvidia\/params: no such file or directory/)
  t.match(run.records[0], { action: 'skipped', reason: /never mounting over a procfs/ }, 'we refuse to mount over the real procfs')
  t.notOk(run.stdout.includes('container-started'))
})

t.test('gofer emulation (the runsc path) on the configs podman generated', async t => {
  unmountFakeDriver()
  mountFakeDriver(1)
  t.teardown(unmountFakeDriver)
  for (const [name, config] of Object.entries(configs)) {
    if (name.endsWith('-runc')) goferOnConfig(t, work, name, config, log, h => kind(h) === 'capture')
  }
})
