// The Debian package as an operator meets it: `npm run package`'s script
// builds it; dpkg-deb shows what is in it; dpkg installs it into a scratch
// root and removes it again; lintian (when installed) has nothing to say.
// The arm64 one (`--arch all`) is the amd64 one but for its executable, the
// arm64 build, and its third-party notices, which name the arm64 base Node:
// dpkg-deb shows that, and dpkg --force-architecture installs it
// into another scratch root and removes it without running it.
// Then the README's quick start on this machine, in a private mount
// namespace where the package's files are overlaid onto /usr (as `dpkg -i`
// would put them): doctor, cdi patch, doctor again, and a container through
// podman with the hook registered.
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
// Before the re-run, or tap's 30 s kills the outer process: lintian alone
// takes about a minute for the ~120 MB executable.
t.setTimeout(300_000)
enterPrivateMountNamespace()

import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { version } from '../../package.json'
import { CDI_USAGE } from '../../src/cdi'
import { DOCTOR_USAGE } from '../../src/doctor'
import { HOOK_USAGE } from '../../src/hook'
import { INSTALL_USAGE } from '../../src/install'
import { isNvidiaHook, isOurHook } from '../../src/registration'
import { writeBusyboxRootfs } from '../harness/busybox-rootfs'
import { setSpecDir } from '../harness/cdi-dirs'
import { elfHeader, filesUnder, modesUnder, sameBytes } from '../harness/file-checks'
import { mountFakeDriver, unmountFakeDriver } from '../harness/fake-driver'
import { checkNotices, nodeBase } from '../harness/notices'
import { configCapture, hideHybridCgroup2, podman } from '../harness/podman'
import { detachUnder } from '../harness/scratch'

const NAME = 'nvidia-procfs-hook'
const DEB = `${NAME}_${version}_amd64.deb`
const DEB_ARM64 = `${NAME}_${version}_arm64.deb`
/** Each architecture's single executable, as build/targets.mjs puts it. */
const EXE = `dist/${NAME}`
const EXE_ARM64 = `dist/linux-arm64/${NAME}`
const HOOKS_D = '/usr/share/containers/oci/hooks.d'
/** podman's precreate file, in a directory of ours that no engine reads until containers.conf names it. */
const PRECREATE_FILE = `/usr/share/${NAME}/hooks.d/${NAME}.json`
/** CRI-O's createContainer file, where CRI-O reads (podman too: its `when` keeps podman from running it). */
const CRIO_FILE = `${HOOKS_D}/${NAME}-createcontainer.json`
const STAND_IN = resolve('test/harness/nvidia-hook-stand-in.mjs')
const UNIT_DIR = '/usr/lib/systemd/system'
const WATCH_UNIT = `${NAME}-cdi-watch.service`
const DROP_IN = `nvidia-cdi-refresh.service.d/${NAME}.conf`
/** The third-party notices (build/notices.mjs), gzipped as Debian policy asks of documentation that is not small. */
const NOTICES = `/usr/share/doc/${NAME}/THIRD-PARTY-NOTICES.gz`

const work = mkdtempSync(join(tmpdir(), 'nph-package-'))
t.teardown(() => {
  detachUnder(work)
  rmSync(work, { recursive: true, force: true })
})
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' } })

const out = join(work, 'out')
// Without tap's NODE_OPTIONS: build code is not what the suite's coverage is about.
sh('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, 'build/deb.mjs', '--arch', 'all', out])
const deb = join(out, DEB)
const debArm64 = join(out, DEB_ARM64)
const extracted = join(work, 'extracted')
sh('dpkg-deb', ['-x', deb, extracted])

/** dpkg-deb -c's lines, split: mode, owner, size, date, time, ./path. */
const contents = (pkg: string) =>
  sh('dpkg-deb', ['-c', pkg])
    .trim()
    .split('\n')
    .map(l => l.split(/\s+/))

t.test('what the package holds', async t => {
  t.same(readdirSync(out).sort(), [DEB, DEB_ARM64].sort(), 'the two .deb files (amd64, arm64) and nothing left beside them')
  const info = sh('dpkg-deb', ['-I', deb])
  t.match(info, `Package: ${NAME}\n`)
  t.match(info, `Version: ${version}\n`)
  t.match(info, 'Architecture: amd64\n')
  t.match(info, /Depends: libatomic1, libc6 \(>= 2\.28\), libgcc-s1, libstdc\+\+6, mount\n/)
  const listing = contents(deb)
  t.ok(listing.every(f => f[1] === 'root/root'), 'everything owned by root')
  const files = Object.fromEntries(listing.filter(f => !(f[0] as string).startsWith('d')).map(f => [(f[5] as string).slice(1), f[0]]))
  t.same(files, {
    [`/usr/bin/${NAME}`]: '-rwxr-xr-x',
    [PRECREATE_FILE]: '-rw-r--r--',
    [CRIO_FILE]: '-rw-r--r--',
    [`/usr/share/doc/${NAME}/changelog.Debian.gz`]: '-rw-r--r--',
    [`/usr/share/doc/${NAME}/changelog.gz`]: '-rw-r--r--',
    [`/usr/share/doc/${NAME}/copyright`]: '-rw-r--r--',
    [NOTICES]: '-rw-r--r--',
    [`/usr/share/lintian/overrides/${NAME}`]: '-rw-r--r--',
    [`/usr/share/man/man1/${NAME}.1.gz`]: '-rw-r--r--',
    [`${UNIT_DIR}/${WATCH_UNIT}`]: '-rw-r--r--',
    [`${UNIT_DIR}/${DROP_IN}`]: '-rw-r--r--',
  })
  for (const unit of [WATCH_UNIT, DROP_IN]) t.equal(readFileSync(join(extracted, UNIT_DIR, unit), 'utf8'), readFileSync(join('systemd', unit), 'utf8'), `${unit}: as in systemd/`)
  for (const [file, source] of [[PRECREATE_FILE, `hooks.d/${NAME}.json`], [CRIO_FILE, `hooks.d/${NAME}-createcontainer.json`]]) {
    t.equal(readFileSync(join(extracted, file as string), 'utf8'), readFileSync(source as string, 'utf8'), `${file}: as in hooks.d/`)
  }
  t.notOk(existsSync(join(extracted, HOOKS_D, `${NAME}.json`)), 'no precreate file where CRI-O and the NRI hook-injector read (they refuse its stage)')
  t.match(info, /^ +\d+ bytes, +\d+ lines +\* +postinst +#!\/bin\/sh$/m, 'maintainer scripts: postinst')
  t.match(info, /^ +\d+ bytes, +\d+ lines +\* +prerm +#!\/bin\/sh$/m, 'prerm')
  t.match(info, /^ +\d+ bytes, +\d+ lines +\* +postrm +#!\/bin\/sh$/m, 'postrm')
  t.ok(listing.filter(f => (f[0] as string).startsWith('d')).every(f => f[0] === 'drwxr-xr-x'), 'directories 0755')
  t.same(elfHeader(join(extracted, 'usr/bin', NAME)), { magic: '\x7fELF', machine: 0x3e }, `/usr/bin/${NAME}: an x86-64 ELF (e_machine 0x3e)`)
  t.ok(sameBytes(join(extracted, 'usr/bin', NAME), EXE), `byte for byte ${EXE}`)
})

t.test("third-party notices: every npm package esbuild's metafile puts in the bundle, and the base Node's LICENSE", async t => {
  const notices = execFileSync('/bin/gzip', ['-dc', join(extracted, NOTICES)], { encoding: 'utf8' })
  t.equal(notices, readFileSync('dist/linux-amd64/THIRD-PARTY-NOTICES', 'utf8'), 'the file the build wrote beside the executable')
  checkNotices(t, notices, nodeBase('amd64'))
  const copyright = readFileSync(join(extracted, `usr/share/doc/${NAME}/copyright`), 'utf8')
  const header = copyright.split('\n\n')[0]
  t.match(header, /\nComment: [^\n]*(\n [^\n]*)*\n \/usr\/share\/doc\/nvidia-procfs-hook\/THIRD-PARTY-NOTICES\.gz\.$/, "the copyright file's header paragraph points at it (a Comment)")
})

t.test('the arm64 package: the amd64 one but for its executable and its notices', async t => {
  const info = sh('dpkg-deb', ['-I', debArm64])
  t.match(info, `Package: ${NAME}\n`, 'dpkg-deb -I: Package')
  t.match(info, `Version: ${version}\n`, 'Version')
  t.match(info, 'Architecture: arm64\n', 'Architecture: arm64')
  const depends = (text: string) => /^ Depends: .*$/m.exec(text)?.[0]
  t.ok(depends(info), 'a Depends line')
  t.equal(depends(info), depends(sh('dpkg-deb', ['-I', deb])), "the amd64 one's Depends")
  // Mode, owner and path of each entry (sizes and times differ).
  const entries = (pkg: string) => contents(pkg).map(f => [f[0], f[1], f[5]].join(' '))
  t.same(entries(debArm64), entries(deb), "dpkg-deb -c: the amd64 one's paths, modes and owners")

  const control = join(work, 'control-amd64')
  const controlArm64 = join(work, 'control-arm64')
  sh('dpkg-deb', ['-e', deb, control])
  sh('dpkg-deb', ['-e', debArm64, controlArm64])
  t.same(readdirSync(controlArm64).sort(), ['control', 'md5sums', 'postinst', 'postrm', 'prerm'], 'dpkg-deb -e: its control files')
  t.same(readdirSync(control).sort(), readdirSync(controlArm64).sort(), "the amd64 one's")
  for (const script of ['postinst', 'prerm', 'postrm']) {
    t.equal(readFileSync(join(controlArm64, script), 'latin1'), readFileSync(join(control, script), 'latin1'), `${script}: byte for byte the amd64 one's`)
    t.equal(lstatSync(join(controlArm64, script)).mode & 0o7777, 0o755, `${script}: 0755`)
  }
  // Installed-Size is the executable's: the rest of the control file is the amd64 one's.
  const controlFile = (dir: string) => readFileSync(join(dir, 'control'), 'utf8').replace(/^Installed-Size: \d+\n/m, '')
  t.equal(controlFile(controlArm64), controlFile(control).replace('\nArchitecture: amd64\n', '\nArchitecture: arm64\n'), "control: the amd64 one's but Architecture (and Installed-Size)")

  const extractedArm64 = join(work, 'extracted-arm64')
  sh('dpkg-deb', ['-x', debArm64, extractedArm64])
  t.teardown(() => rmSync(extractedArm64, { recursive: true, force: true }))
  const files = filesUnder(extracted).map(f => f.slice(extracted.length)).sort()
  t.same(filesUnder(extractedArm64).map(f => f.slice(extractedArm64.length)).sort(), files, 'dpkg-deb -x: the same files')
  const binary = join(extractedArm64, 'usr/bin', NAME)
  t.same(elfHeader(binary), { magic: '\x7fELF', machine: 0xb7 }, `/usr/bin/${NAME}: an aarch64 ELF (e_machine 0xb7)`)
  t.ok(sameBytes(binary, EXE_ARM64), `byte for byte ${EXE_ARM64}`)
  // changelog.Debian.gz carries the time of its build; the notices name each one's base Node.
  for (const file of files.filter(f => f !== `/usr/bin/${NAME}` && f !== `/usr/share/doc/${NAME}/changelog.Debian.gz` && f !== NOTICES)) {
    t.ok(sameBytes(join(extractedArm64, file), join(extracted, file)), `${file}: the amd64 one's`)
  }
  const notices = execFileSync('/bin/gzip', ['-dc', join(extractedArm64, NOTICES)], { encoding: 'utf8' })
  t.equal(notices, readFileSync('dist/linux-arm64/THIRD-PARTY-NOTICES', 'utf8'), `${NOTICES}: the file the build wrote beside the arm64 executable`)
  checkNotices(t, notices, nodeBase('arm64'))
})

const root = join(work, 'root')
const rootArm64 = join(work, 'root-arm64')
/** A fresh dpkg database in `dir`, and dpkg for that root. */
const scratchDpkg = (dir: string) => {
  for (const d of ['info', 'updates', 'triggers']) mkdirSync(join(dir, 'var/lib/dpkg', d), { recursive: true })
  writeFileSync(join(dir, 'var/lib/dpkg/status'), '')
  // --force-depends: the scratch root has no libc6; the libraries come from this machine.
  return (...args: string[]) => sh('dpkg', ['--root', dir, '--force-not-root', '--force-script-chrootless', '--force-depends', ...args])
}
/** What the amd64 install put in its scratch root (dpkg -L, and every path with its mode), for the arm64 one's. */
let installedAmd64: { listed: string; modes: Record<string, string> } | undefined

t.test('dpkg installs it into a scratch root, and removes it', async t => {
  const dpkg = scratchDpkg(root)
  dpkg('-i', deb)
  t.match(dpkg('-s', NAME), /^Status: install ok installed$/m)
  installedAmd64 = { listed: dpkg('-L', NAME), modes: Object.fromEntries(modesUnder(root, 'var/lib/dpkg')) }
  t.same(dpkg('-L', NAME).trim().split('\n').filter(p => !existsSync(join(root, p))), [], 'every path dpkg lists is there')
  t.equal(dpkg('--verify', NAME), '', 'dpkg --verify: every file as its md5sums says')
  const installed = join(root, 'usr/bin', NAME)
  t.match(sh(installed, ['--version']), new RegExp(`^${NAME} ${version} \\(node v\\d+\\.`))
  const precreateFile = JSON.parse(readFileSync(join(root, PRECREATE_FILE), 'utf8'))
  t.same(precreateFile.hook.path, `/usr/bin/${NAME}`, 'the precreate file runs the packaged binary')
  t.same(precreateFile.stages, ['precreate'])
  const crioFile = JSON.parse(readFileSync(join(root, CRIO_FILE), 'utf8'))
  t.same(crioFile.hook.path, `/usr/bin/${NAME}`, "CRI-O's file runs the packaged binary")
  t.same(crioFile.stages, ['createContainer'])
  for (const unit of [WATCH_UNIT, DROP_IN]) t.ok(existsSync(join(root, UNIT_DIR, unit)), `${unit} installed`)

  const man = spawnSync('/usr/bin/man', ['--warnings', '-l', join(extracted, `usr/share/man/man1/${NAME}.1.gz`)], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin', MANWIDTH: '80', LC_ALL: 'C.UTF-8' } })
  t.equal(man.status, 0)
  t.equal(man.stderr, '', 'no roff warnings')
  const page = man.stdout.replace(/\u2010\n\s*/g, '').replace(/\s+/g, ' ')
  for (const usage of [HOOK_USAGE, CDI_USAGE, DOCTOR_USAGE, INSTALL_USAGE]) {
    for (const option of new Set(usage.match(/--[a-z-]+/g))) t.match(page, option, `the man page documents ${option}`)
  }
  for (const command of ['hook', 'precreate', 'cdi patch', 'unmount', 'doctor', 'install', 'uninstall', 'EXIT STATUS', 'FILES', 'EXAMPLES']) t.match(page, command)

  writeFileSync(join(root, PRECREATE_FILE), '{}\n')
  t.match(dpkg('--verify', NAME), new RegExp(`^\\?\\?5\\?{6} +${PRECREATE_FILE.replace(/\./g, '\\.')}\n$`), 'a changed file is named: its MD5 differs (the check works)')

  dpkg('-r', NAME)
  t.notOk(existsSync(installed), 'removed')
  t.notOk(existsSync(join(root, PRECREATE_FILE)))
  t.notOk(existsSync(join(root, CRIO_FILE)))
  t.notOk(existsSync(join(root, `usr/share/${NAME}`)), 'our hooks directory too')
  t.notOk(existsSync(join(root, UNIT_DIR, WATCH_UNIT)), 'the units too')
})

t.test('dpkg --force-architecture installs the arm64 one into another scratch root, as the amd64 one, and removes it', async t => {
  const dpkg = scratchDpkg(rootArm64)
  // This machine's dpkg is amd64's. The maintainer scripts run (chrootless)
  // but leave the aarch64 executable alone: with DPKG_ROOT set postinst does
  // nothing, and prerm runs the executable only on CDI spec directories,
  // which the scratch root has none of.
  dpkg('--force-architecture', '-i', debArm64)
  const status = dpkg('-s', NAME)
  t.match(status, /^Status: install ok installed$/m, 'dpkg -s: installed')
  t.match(status, /^Architecture: arm64$/m, 'as arm64')
  t.ok(installedAmd64, 'the amd64 install went first')
  t.equal(dpkg('-L', NAME), installedAmd64?.listed, "dpkg -L: the amd64 install's paths")
  t.same(Object.fromEntries(modesUnder(rootArm64, 'var/lib/dpkg')), installedAmd64?.modes, "every path in the root, with its mode: the amd64 install's")
  t.ok(sameBytes(join(rootArm64, 'usr/bin', NAME), EXE_ARM64), `/usr/bin/${NAME}: byte for byte ${EXE_ARM64}`)
  t.equal(dpkg('--verify', NAME), '', 'dpkg --verify: every file as its md5sums says')

  dpkg('-r', NAME)
  t.notMatch(dpkg('-s', NAME), /^Status: install ok installed$/m, 'no longer installed')
  t.same(filesUnder(rootArm64).filter(f => !f.startsWith(join(rootArm64, 'var/lib/dpkg/'))), [], 'no file left but the dpkg database')
})

const noLintian = spawnSync('/usr/bin/lintian', ['--version']).error
  ? 'lintian is not installed (apt-get install lintian: ~140 packages, more than CI should pull for one check)'
  : false
t.test('lintian', { skip: noLintian }, async t => {
  const res = spawnSync('/usr/bin/lintian', ['--tag-display-limit', '0', deb], { encoding: 'utf8', timeout: 300_000 })
  t.equal(res.status, 0, res.stdout)
  t.same(res.stdout.split('\n').filter(l => /^[EW]: /.test(l)), [], 'no errors, no warnings (Node SEA tags overridden, with the reason)')
})

let layers = 0
/** Puts an overlay on `dir` whose upper layer (a tmpfs under work/, filled by `fill`) holds what the package adds. */
const overlay = (dir: string, fill: (upper: string) => void) => {
  const layer = join(work, `layer${++layers}${dir.replace(/\//g, '-')}`)
  mkdirSync(layer)
  sh('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'nph-test-package', layer])
  mkdirSync(join(layer, 'upper'))
  mkdirSync(join(layer, 'work'))
  fill(join(layer, 'upper'))
  sh('/usr/bin/mount', ['-t', 'overlay', '-o', `lowerdir=${dir},upperdir=${layer}/upper,workdir=${layer}/work`, 'nph-test-package', dir])
  return () => {
    sh('/usr/bin/umount', ['-l', dir])
    sh('/usr/bin/umount', ['-l', layer])
  }
}

t.test("the README's quick start on this machine", async t => {
  // dpkg -i, as far as the files go: the package's files over /usr/bin and /usr/share.
  overlay('/usr/bin', upper => copyFileSync(join(extracted, 'usr/bin', NAME), join(upper, NAME)))
  const captured = join(work, 'captured')
  overlay('/usr/share', upper => {
    for (const file of [PRECREATE_FILE, CRIO_FILE]) {
      mkdirSync(join(upper, dirname(file.slice('/usr/share'.length))), { recursive: true })
      copyFileSync(join(extracted, file), join(upper, file.slice('/usr/share'.length)))
    }
    // Not an operator's step: a createContainer hook that keeps the config the runtime got.
    writeFileSync(join(upper, 'containers/oci/hooks.d/zz-capture.json'), JSON.stringify(configCapture(work, captured)))
  })
  mountFakeDriver(0)
  t.teardown(unmountFakeDriver)
  hideHybridCgroup2()
  const bin = join(work, 'nvidia-bin')
  mkdirSync(bin)
  symlinkSync(STAND_IN, join(bin, 'nvidia-ctk'))
  const cdi = join(work, 'cdi')
  mkdirSync(cdi)
  const spec = join(cdi, 'nvidia.yaml')
  writeFileSync(
    spec,
    `cdiVersion: 0.5.0\nkind: nvidia.com/gpu\ndevices:\n- name: all\n  containerEdits:\n    env: [GPU=all]\ncontainerEdits:\n  hooks:\n  - {hookName: createContainer, path: ${bin}/nvidia-ctk, args: [nvidia-ctk, hook, disable-device-node-modification], env: [NVIDIA_CTK_DEBUG=false]}\n`,
  )
  t.teardown(setSpecDir('/etc/cdi', cdi))
  t.teardown(setSpecDir('/var/run/cdi'))

  const cli = (...args: string[]) => spawnSync(NAME, args, { encoding: 'utf8', env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin' } })
  const doctor = cli('doctor')
  t.equal(doctor.status, 0, doctor.stdout)
  t.match(doctor.stdout, /^ok {4}driver {5}FAKE-nvidia-driver-for-tests .*ModifyDeviceFiles: 0/m)
  t.match(doctor.stdout, /^ok {4}runsc {6}\/usr\/bin\/runsc: runsc version 0\.0~20221219\.0; skips CDI createContainer hooks/m, "Debian's runsc")
  t.match(doctor.stdout, /^WARN  cdi {8}\/etc\/cdi\/nvidia\.yaml: NVIDIA hooks run without nvidia-procfs-hook in front \(1 hooks list\); harmless until runsc runs CDI createContainer hooks\n {17}fix: nvidia-procfs-hook cdi patch \/etc\/cdi\/nvidia\.yaml$/m)
  t.match(doctor.stdout, new RegExp(`^ok {4}binary {5}/usr/bin/${NAME}: ${NAME} ${version} `, 'm'))
  t.notMatch(doctor.stdout, /^FAIL/m)
  t.match(doctor.stdout, /\nREADY \(\d+ warnings?\)\n$/)

  const rootfs = join(work, 'rootfs')
  writeBusyboxRootfs(rootfs)
  const engine = podman(join(work, 'podman'))
  // podman's default hooks directory, where the package put CRI-O's file: podman reads it, and does not run it.
  const start = (id: string, hooksDir = HOOKS_D) => {
    const res = engine.run({ runtime: 'runc', hooksDir, device: 'nvidia.com/gpu=all', rootfs, argv: ['/bin/echo', id] })
    t.equal(res.status, 0, res.stderr)
    t.match(res.stdout, `${id}\n`)
    const configs = readdirSync(captured)
    const config = JSON.parse(readFileSync(join(captured, configs[configs.length - 1] as string), 'utf8'))
    rmSync(captured, { recursive: true })
    mkdirSync(captured)
    return (config.hooks.createContainer as unknown[]).filter(h => isOurHook(h) || isNvidiaHook(h))
  }
  mkdirSync(captured, { recursive: true })
  const ours = { path: `/usr/bin/${NAME}`, args: [NAME, 'hook', '--stage', 'createContainer'], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] }
  const kinds = (list: unknown[]) => list.map(h => (isOurHook(h) ? 'ours' : 'nvidia'))
  t.same(kinds(start('not registered')), ['nvidia'], "the package alone: podman reads neither the precreate directory nor (its `when` unmatched) CRI-O's file")

  // The fix doctor printed, as printed.
  const fix = /fix: (nvidia-procfs-hook cdi patch \S+)$/m.exec(doctor.stdout)?.[1] as string
  const patched = cli(...fix.split(' ').slice(1))
  t.same({ status: patched.status, stdout: patched.stdout }, { status: 0, stdout: 'patched /etc/cdi/nvidia.yaml (1 hooks list)\n' })
  const again = cli('doctor', '--json')
  t.equal(again.status, 0)
  const findings = JSON.parse(again.stdout).findings as { check: string }[]
  t.same(findings.filter(f => f.check === 'cdi'), [{ check: 'cdi', status: 'ok', summary: `/etc/cdi/nvidia.yaml: patched (/usr/bin/${NAME})` }])
  t.notMatch(cli('doctor').stdout, /^(FAIL|WARN) +cdi/m)
  const list = start('patched')
  t.same(kinds(list), ['ours', 'nvidia'], 'patched spec: our entry in front, once')
  t.same(list[0], ours)
})

t.test('maintainer scripts: install enables and starts the watcher; remove stops it, reverts the specs, then goes', async t => {
  const control = join(work, 'control')
  sh('dpkg-deb', ['-e', deb, control])
  // The packaged binary where the scripts run it, systemd "running" (/run/systemd/system), and scratch spec directories.
  t.teardown(overlay('/usr/bin', upper => copyFileSync(join(extracted, 'usr/bin', NAME), join(upper, NAME))))
  t.teardown(overlay('/run', upper => mkdirSync(join(upper, 'systemd/system'), { recursive: true })))
  const etcCdi = join(work, 'scripts-etc-cdi')
  mkdirSync(etcCdi)
  t.teardown(setSpecDir('/etc/cdi', etcCdi))
  mkdirSync('/var/run/cdi', { recursive: true })
  const FRESH = readFileSync('test/fixtures/cdi/nvidia-ctk.yaml', 'utf8')
  const specs = [join('/etc/cdi', 'nvidia.yaml'), '/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json']
  writeFileSync(specs[0] as string, FRESH)
  writeFileSync(specs[1] as string, readFileSync('test/fixtures/cdi/k8s-device-plugin.json'))

  // Stand-ins that log each call, and whether the specs are still patched at that moment.
  const log = join(work, 'calls.log')
  const fakes = (dir: string, names: string[]) => {
    mkdirSync(dir)
    for (const name of names) {
      writeFileSync(
        join(dir, name),
        `#!/bin/sh\necho "${name} $* (patched: $(/bin/grep -ls /usr/bin/${NAME} ${specs.join(' ')} | /usr/bin/wc -l))" >>${log}\n`,
      )
      sh('/bin/chmod', ['755', join(dir, name)])
    }
    return dir
  }
  const withHelpers = fakes(join(work, 'fake-helpers'), ['systemctl', 'deb-systemd-helper', 'deb-systemd-invoke'])
  const systemctlOnly = fakes(join(work, 'fake-systemctl'), ['systemctl'])
  const script = (name: string, args: string[], path: string, env: Record<string, string> = {}) => {
    rmSync(log, { force: true })
    const res = spawnSync(join(control, name), args, { encoding: 'utf8', env: { PATH: path, ...env } })
    const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []
    return { status: res.status, stdout: res.stdout, stderr: res.stderr, calls }
  }
  const PATH = `${withHelpers}:/usr/sbin:/usr/bin:/sbin:/bin`

  t.same(script('postinst', ['configure'], PATH).calls, [
    'systemctl --system daemon-reload (patched: 0)',
    `deb-systemd-helper enable ${WATCH_UNIT} (patched: 0)`,
    `deb-systemd-invoke restart ${WATCH_UNIT} (patched: 0)`,
  ], 'postinst: reload (the drop-in), enable, start')
  t.same(script('postinst', ['configure', '0.0.9'], systemctlOnly).calls, [
    'systemctl --system daemon-reload (patched: 0)',
    `systemctl enable ${WATCH_UNIT} (patched: 0)`,
    `systemctl restart ${WATCH_UNIT} (patched: 0)`,
  ], 'without init-system-helpers: systemctl')
  t.same(script('postinst', ['configure'], PATH, { DPKG_ROOT: join(work, 'root') }), { status: 0, stdout: '', stderr: '', calls: [] }, 'another root (dpkg --root): this host\'s systemd is left alone')

  // What the watcher would have done meanwhile.
  const patched = spawnSync(`/usr/bin/${NAME}`, ['cdi', 'patch'], { encoding: 'utf8' })
  t.equal(patched.stdout.split('\n').filter(Boolean).length, 2, 'both specs patched')
  t.same(script('prerm', ['upgrade', version], PATH), { status: 0, stdout: '', stderr: '', calls: [] }, 'an upgrade keeps the watcher and the specs')
  const removed = script('prerm', ['remove'], PATH)
  t.same(removed.calls, [`deb-systemd-invoke stop ${WATCH_UNIT} (patched: 2)`, `deb-systemd-helper disable ${WATCH_UNIT} (patched: 2)`], 'prerm: stop and disable first')
  t.same(removed.stdout.trim().split('\n'), specs.map(s => `reverted ${s} (1 ${'entry'} removed)`), 'then the specs reverted')
  t.equal(readFileSync(specs[0] as string, 'utf8'), FRESH, 'as they were')
  t.equal(removed.status, 0)

  // A spec that cannot be reverted stops the removal, saying why: the binary stays.
  spawnSync(`/usr/bin/${NAME}`, ['cdi', 'patch'])
  writeFileSync('/etc/cdi/broken.yaml', 'kind: [')
  const refused = script('prerm', ['remove'], systemctlOnly)
  t.equal(refused.status, 1)
  t.match(refused.stderr, /\/etc\/cdi\/broken\.yaml: not valid YAML/)
  t.match(refused.stderr, new RegExp(`${NAME}: cannot revert the CDI specs above; fix them`))
  t.same(refused.calls, [`systemctl stop ${WATCH_UNIT} (patched: 2)`, `systemctl disable ${WATCH_UNIT} (patched: 2)`])
  rmSync('/etc/cdi/broken.yaml')

  t.equal(readFileSync(specs[0] as string, 'utf8'), FRESH, 'the others still reverted')
  t.same(script('postrm', ['remove'], PATH).calls, ['systemctl --system daemon-reload (patched: 0)'], 'postrm: reload')
  t.same(script('postrm', ['purge'], PATH).calls, ['systemctl --system daemon-reload (patched: 0)', `deb-systemd-helper purge ${WATCH_UNIT} (patched: 0)`], 'purge: and forget its state')
  rmSync('/var/run/cdi', { recursive: true })
  sh('/bin/rmdir', ['/run/systemd/system'])
  t.same(script('postinst', ['configure'], PATH).calls, [], 'systemd not running the host: nothing to enable or start')
})
