// The .rpm (build/rpm.mjs, run by `npm run package`) as far as Debian's rpm
// tools can show it: what it holds and needs, its scriptlets, an install
// into a scratch root and an erase that leaves nothing. The aarch64 one
// (`--arch all`) is the x86_64 one but for its executable, the arm64 build,
// and its third-party notices, which name the arm64 base Node:
// it installs with --ignorearch, its executable never run (the scriptlets
// are off). Then the scriptlets' bodies, in a private mount namespace where
// systemd "runs" the host (/run/systemd/system) and
// /usr/bin/nvidia-procfs-hook and systemctl are stand-ins that log their
// calls: they do what the .deb's maintainer scripts do
// (test/system/package.ts).
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
// Before the re-run, or tap's 30 s kills the outer process on a slow machine.
t.setTimeout(120_000)
enterPrivateMountNamespace()

import { execFileSync, spawnSync } from 'node:child_process'
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { version } from '../../package.json'
import { setSpecDir } from '../harness/cdi-dirs'
import { elfHeader, filesUnder, modesUnder, perms, sameBytes } from '../harness/file-checks'
import { checkNotices, nodeBase } from '../harness/notices'
import { detachUnder } from '../harness/scratch'

const NAME = 'nvidia-procfs-hook'
const RPM = `${NAME}-${version}-1.x86_64.rpm`
const RPM_ARM64 = `${NAME}-${version}-1.aarch64.rpm`
/** Each architecture's single executable, as build/targets.mjs puts it. */
const EXE = `dist/${NAME}`
const EXE_ARM64 = `dist/linux-arm64/${NAME}`
const UNIT_DIR = '/usr/lib/systemd/system'
const WATCH_UNIT = `${NAME}-cdi-watch.service`
const DROP_IN_DIR = `${UNIT_DIR}/nvidia-cdi-refresh.service.d`
const DROP_IN = `${DROP_IN_DIR}/${NAME}.conf`
const DOC_DIR = `/usr/share/doc/${NAME}`
/** The third-party notices (build/notices.mjs): a %license file, where rpm puts those. */
const LICENSE_DIR = `/usr/share/licenses/${NAME}`
const NOTICES = `${LICENSE_DIR}/THIRD-PARTY-NOTICES`
/** podman's precreate file, in a directory of ours; CRI-O's createContainer file, where CRI-O reads. */
const PODMAN_HOOKS_DIR = `/usr/share/${NAME}`
const HOOKS_FILE = `${PODMAN_HOOKS_DIR}/hooks.d/${NAME}.json`
const CRIO_FILE = `/usr/share/containers/oci/hooks.d/${NAME}-createcontainer.json`

const work = mkdtempSync(join(tmpdir(), 'nph-rpm-'))
t.teardown(() => {
  detachUnder(work)
  rmSync(work, { recursive: true, force: true })
})
const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })

const out = join(work, 'out')
// Without tap's NODE_OPTIONS: build code is not what the suite's coverage is about.
sh('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, 'build/rpm.mjs', '--arch', 'all', out])
const rpm = join(out, RPM)
const rpmArm64 = join(out, RPM_ARM64)
/** `rpm -qp ARGS` of one package file. */
const queryOf =
  (pkg: string) =>
  (...args: string[]) =>
    sh('/usr/bin/rpm', ['-qp', ...args, pkg])
const query = queryOf(rpm)
const queryArm64 = queryOf(rpmArm64)
const LISTING_FORMAT = '[%{FILEMODES:perms} %{FILEUSERNAME}:%{FILEGROUPNAME} %{FILENAMES}\n]'


/**
 * Unpacks `pkg`'s payload into `dir` (made here). rpm2archive (Debian's rpm,
 * as rpm2cpio is) writes it as a tar for tar to unpack: cpio is not among the
 * Debian packages the tests install (build/debian-deps.mjs).
 */
const unpack = (pkg: string, dir: string) => {
  const tar = `${dir}.tar`
  const input = openSync(pkg, 'r')
  const output = openSync(tar, 'w')
  try {
    const res = spawnSync('/usr/bin/rpm2archive', ['--nocompression', '-'], { stdio: [input, output, 'pipe'], encoding: 'utf8', env: ENV })
    if (res.status !== 0) throw new Error(`rpm2archive ${pkg}: ${res.stderr || res.error?.message}`)
  } finally {
    closeSync(input)
    closeSync(output)
  }
  mkdirSync(dir)
  sh('/bin/tar', ['-xf', tar, '-C', dir])
  rmSync(tar)
  return dir
}

// Every path, as installed: mode (rpm's %{FILEMODES:perms}), and for files their source here.
const EXPECTED: Record<string, string> = {
  [`/usr/bin/${NAME}`]: '-rwxr-xr-x',
  [PODMAN_HOOKS_DIR]: 'drwxr-xr-x',
  [`${PODMAN_HOOKS_DIR}/hooks.d`]: 'drwxr-xr-x',
  [HOOKS_FILE]: '-rw-r--r--',
  [CRIO_FILE]: '-rw-r--r--',
  [`/usr/share/man/man1/${NAME}.1.gz`]: '-rw-r--r--',
  [`${UNIT_DIR}/${WATCH_UNIT}`]: '-rw-r--r--',
  [DROP_IN_DIR]: 'drwxr-xr-x',
  [DROP_IN]: '-rw-r--r--',
  [DOC_DIR]: 'drwxr-xr-x',
  [`${DOC_DIR}/changelog.gz`]: '-rw-r--r--',
  [`${DOC_DIR}/copyright`]: '-rw-r--r--',
  [LICENSE_DIR]: 'drwxr-xr-x',
  [NOTICES]: '-rw-r--r--',
}

t.test('what the package holds and needs', async t => {
  t.same(readdirSync(out).sort(), [RPM, RPM_ARM64].sort(), 'the two .rpm files (x86_64, aarch64) and nothing left beside them')
  t.same(readdirSync(tmpdir()).filter(f => f.startsWith('nph-rpmbuild-')), [], 'no _topdir left behind')
  t.same(query('-l').trim().split('\n'), Object.keys(EXPECTED).sort(), 'rpm -qlp: exactly these paths')
  t.equal(query('--qf', '%{ARCH}'), 'x86_64', 'ARCH x86_64')
  const listing = query('--qf', LISTING_FORMAT).trim().split('\n')
  t.same(Object.fromEntries(listing.map(l => [l.split(' ')[2], l.split(' ')[0]])), EXPECTED, 'modes as in the .deb')
  t.ok(listing.every(l => l.split(' ')[1] === 'root:root'), 'everything owned by root')
  const info = query('-i')
  for (const field of [`Name        : ${NAME}`, `Version     : ${version}`, 'Release     : 1', 'Architecture: x86_64', 'License     : Apache-2.0']) t.match(info, `${field}\n`)
  t.match(info, /Summary {5}: OCI hook that lets NVIDIA's CDI hooks work under gVisor\n/)
  t.match(info, /Description :\nRegistered as a createContainer hook before NVIDIA's/)
  const requires = query('--requires').trim().split('\n')
  for (const pkg of ['glibc', 'libatomic', 'libgcc', 'libstdc++', 'util-linux']) t.ok(requires.includes(pkg), `requires ${pkg}`)
  const scripts = query('--scripts')
  for (const kind of ['postinstall', 'preuninstall', 'postuninstall']) t.match(scripts, `${kind} scriptlet (using /bin/sh):\n`, kind)
  t.notMatch(scripts, /preinstall|posttrans|pretrans/, 'no others')
  t.equal(query('--licensefiles'), `${NOTICES}\n`, 'rpm -qp --licensefiles: the notices, and only they')
})

t.test('the aarch64 package: the x86_64 one but for its executable and its notices', async t => {
  t.equal(queryArm64('--qf', '%{ARCH}'), 'aarch64', 'ARCH aarch64')
  const info = queryArm64('-i')
  for (const field of [`Name        : ${NAME}`, `Version     : ${version}`, 'Release     : 1', 'Architecture: aarch64', 'License     : Apache-2.0']) t.match(info, `${field}\n`)
  t.equal(queryArm64('--requires'), query('--requires'), 'the same Requires')
  const listing = queryArm64('--qf', LISTING_FORMAT)
  t.equal(listing, query('--qf', LISTING_FORMAT), 'the same paths, modes and owners')
  t.same(Object.fromEntries(listing.trim().split('\n').map(l => [l.split(' ')[2], l.split(' ')[0]])), EXPECTED, 'modes as in the .deb')
  t.equal(queryArm64('--scripts'), query('--scripts'), 'the same scriptlets')

  const payload = unpack(rpm, join(work, 'payload-x86_64'))
  const payloadArm64 = unpack(rpmArm64, join(work, 'payload-aarch64'))
  t.teardown(() => {
    rmSync(payload, { recursive: true, force: true })
    rmSync(payloadArm64, { recursive: true, force: true })
  })
  const files = filesUnder(payload).map(f => f.slice(payload.length)).sort()
  t.same(filesUnder(payloadArm64).map(f => f.slice(payloadArm64.length)).sort(), files, 'rpm2archive: the same files in the payload')
  t.same(elfHeader(join(payloadArm64, 'usr/bin', NAME)), { magic: '\x7fELF', machine: 0xb7 }, `aarch64's /usr/bin/${NAME}: an aarch64 ELF (e_machine 0xb7)`)
  t.ok(sameBytes(join(payloadArm64, 'usr/bin', NAME), EXE_ARM64), `byte for byte ${EXE_ARM64}`)
  t.same(elfHeader(join(payload, 'usr/bin', NAME)), { magic: '\x7fELF', machine: 0x3e }, `x86_64's /usr/bin/${NAME}: an x86-64 ELF (e_machine 0x3e)`)
  t.ok(sameBytes(join(payload, 'usr/bin', NAME), EXE), `byte for byte ${EXE}`)
  for (const file of files.filter(f => f !== `/usr/bin/${NAME}` && f !== NOTICES)) t.ok(sameBytes(join(payloadArm64, file), join(payload, file)), `${file}: the x86_64 package's`)
  const notices = readFileSync(join(payloadArm64, NOTICES), 'utf8')
  t.equal(notices, readFileSync('dist/linux-arm64/THIRD-PARTY-NOTICES', 'utf8'), `aarch64's ${NOTICES}: the file the build wrote beside the arm64 executable`)
  checkNotices(t, notices, nodeBase('arm64'))
})

const root = join(work, 'root')
const rootArm64 = join(work, 'root-aarch64')
// Debian's rpm keeps its database under ~/.rpmdb; an RPM-based system's is /var/lib/rpm.
const rpmIn =
  (dir: string) =>
  (...args: string[]) =>
    sh('/usr/bin/rpm', ['--root', dir, '--dbpath', '/var/lib/rpm', ...args])
const inRoot = rpmIn(root)
/** What the x86_64 install put in its scratch root (rpm -ql, and every path with its mode), for the aarch64 one's. */
let installedX64: { listed: string; modes: Record<string, string> } | undefined

t.test('rpm installs it into a scratch root, and erases it', async t => {
  mkdirSync(root)
  inRoot('--nodeps', '--noscripts', '-i', rpm)
  t.match(inRoot('-q', NAME), `${NAME}-${version}-1.x86_64`)
  installedX64 = { listed: inRoot('-ql', NAME), modes: Object.fromEntries(modesUnder(root, 'var/lib/rpm')) }
  for (const [path, mode] of Object.entries(EXPECTED)) {
    const st = statSync(join(root, path))
    t.equal(perms(st.isDirectory(), st.mode), mode, `${path} ${mode}`)
  }
  t.match(sh(join(root, 'usr/bin', NAME), ['--version']), new RegExp(`^${NAME} ${version} \\(node v\\d+\\.`), 'the binary runs: not stripped')
  t.equal(readFileSync(join(root, 'usr/bin', NAME)).compare(readFileSync(`dist/${NAME}`)), 0, 'byte for byte the built executable')
  for (const [installed, source] of [[`${UNIT_DIR}/${WATCH_UNIT}`, `systemd/${WATCH_UNIT}`], [DROP_IN, `systemd/nvidia-cdi-refresh.service.d/${NAME}.conf`], [HOOKS_FILE, `hooks.d/${NAME}.json`], [CRIO_FILE, `hooks.d/${NAME}-createcontainer.json`]] as const) {
    t.equal(readFileSync(join(root, installed), 'utf8'), readFileSync(source, 'utf8'), `${installed}: as in ${source}`)
  }
  t.match(execFileSync('/bin/gzip', ['-dc', join(root, DOC_DIR, 'changelog.gz')], { encoding: 'utf8' }), readFileSync('CHANGELOG.md', 'utf8'))
  const notices = readFileSync(join(root, NOTICES), 'utf8')
  t.equal(notices, readFileSync('dist/linux-amd64/THIRD-PARTY-NOTICES', 'utf8'), `${NOTICES}: the file the build wrote beside the executable`)
  checkNotices(t, notices, nodeBase('amd64'))
  t.match(readFileSync(join(root, DOC_DIR, 'copyright'), 'utf8'), `their copyright and licence notices, and Node.js's, are in\n ${NOTICES}.\n`, 'the copyright file points at it')

  inRoot('--nodeps', '--noscripts', '-e', NAME)
  t.equal(spawnSync('/usr/bin/rpm', ['--root', root, '--dbpath', '/var/lib/rpm', '-q', NAME]).status, 1, 'rpm -q: not installed')
  t.same(filesUnder(root).filter(f => !f.startsWith(join(root, 'var/lib/rpm/'))), [], 'no file left but the rpm database')
  for (const dir of [DOC_DIR, DROP_IN_DIR, LICENSE_DIR]) t.notOk(existsSync(join(root, dir)), `${dir}: its own directories go too`)
})

t.test('rpm --ignorearch installs the aarch64 one into another scratch root, as the x86_64 one, and erases it', async t => {
  mkdirSync(rootArm64)
  const inRootArm64 = rpmIn(rootArm64)
  // The scriptlets are off (--noscripts): nothing runs the aarch64 executable here.
  inRootArm64('--nodeps', '--noscripts', '--ignorearch', '-i', rpmArm64)
  t.equal(inRootArm64('-q', '--qf', '%{NAME}-%{VERSION}-%{RELEASE}.%{ARCH}', NAME), `${NAME}-${version}-1.aarch64`)
  t.ok(installedX64, 'the x86_64 install went first')
  t.equal(inRootArm64('-ql', NAME), installedX64?.listed, "rpm -ql: the x86_64 install's paths")
  t.same(Object.fromEntries(modesUnder(rootArm64, 'var/lib/rpm')), installedX64?.modes, "every path in the root, with its mode: the x86_64 install's")
  t.ok(sameBytes(join(rootArm64, 'usr/bin', NAME), EXE_ARM64), `/usr/bin/${NAME}: byte for byte ${EXE_ARM64}`)

  inRootArm64('--nodeps', '--noscripts', '-e', NAME)
  t.equal(spawnSync('/usr/bin/rpm', ['--root', rootArm64, '--dbpath', '/var/lib/rpm', '-q', NAME]).status, 1, 'rpm -q: not installed')
  t.same(filesUnder(rootArm64).filter(f => !f.startsWith(join(rootArm64, 'var/lib/rpm/'))), [], 'no file left but the rpm database')
})

let layers = 0
/** Puts an overlay on `dir` whose upper layer (a tmpfs under work/, filled by `fill`) holds what the test adds. */
const overlay = (dir: string, fill: (upper: string) => void) => {
  const layer = join(work, `layer${++layers}${dir.replace(/\//g, '-')}`)
  mkdirSync(layer)
  sh('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'mode=0755', 'nph-test-rpm', layer])
  mkdirSync(join(layer, 'upper'))
  mkdirSync(join(layer, 'work'))
  fill(join(layer, 'upper'))
  sh('/usr/bin/mount', ['-t', 'overlay', '-o', `lowerdir=${dir},upperdir=${layer}/upper,workdir=${layer}/work`, 'nph-test-rpm', dir])
  return () => {
    sh('/usr/bin/umount', ['-l', dir])
    sh('/usr/bin/umount', ['-l', layer])
  }
}

t.test('scriptlets: post enables and starts the watcher; preun on removal stops it and reverts the specs; postun reloads', async t => {
  const log = join(work, 'calls.log')
  const logger = (name: string, extra = '') => `#!/bin/sh\necho "${name} $*" >>${log}\n${extra}`
  // The binary the scriptlet runs by its absolute path, a stand-in; systemd "running" the host; both spec directories there.
  t.teardown(
    overlay('/usr/bin', upper => {
      writeFileSync(join(upper, NAME), logger(NAME, 'exit ${NPH_TEST_REVERT_STATUS:-0}\n'), { mode: 0o755 })
    }),
  )
  t.teardown(overlay('/run', upper => mkdirSync(join(upper, 'systemd/system'), { recursive: true })))
  const etcCdi = join(work, 'etc-cdi')
  mkdirSync(etcCdi)
  t.teardown(setSpecDir('/etc/cdi', etcCdi))
  mkdirSync('/var/run/cdi', { recursive: true })
  const fakes = join(work, 'fake-bin')
  mkdirSync(fakes)
  writeFileSync(join(fakes, 'systemctl'), logger('systemctl'), { mode: 0o755 })

  const bodies: Record<string, string> = {}
  for (const [name, tag] of [['post', 'POSTIN'], ['preun', 'PREUN'], ['postun', 'POSTUN']] as const) {
    bodies[name] = join(work, `${name}.sh`)
    writeFileSync(bodies[name], query('--qf', `%{${tag}}`))
  }
  // As rpm runs them: /bin/sh, the count of instances left as $1, no `set -e`.
  const scriptlet = (name: string, count: number, env: Record<string, string> = {}) => {
    rmSync(log, { force: true })
    const res = spawnSync('/bin/sh', [bodies[name] as string, String(count)], { encoding: 'utf8', env: { PATH: `${fakes}:/sbin:/bin:/usr/sbin:/usr/bin`, ...env } })
    const calls = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []
    return { status: res.status, stderr: res.stderr, calls }
  }

  t.same(scriptlet('post', 1), { status: 0, stderr: '', calls: ['systemctl --system daemon-reload', `systemctl enable ${WATCH_UNIT}`, `systemctl restart ${WATCH_UNIT}`] }, 'post (install): reload (the drop-in), enable, start')
  t.same(scriptlet('post', 2).calls, ['systemctl --system daemon-reload', `systemctl enable ${WATCH_UNIT}`, `systemctl restart ${WATCH_UNIT}`], 'post (upgrade): the same, restarting onto the new binary')
  t.same(scriptlet('preun', 1), { status: 0, stderr: '', calls: [] }, 'preun with 1 left (upgrade): the watcher and the specs stay')
  t.same(
    scriptlet('preun', 0),
    { status: 0, stderr: '', calls: [`systemctl stop ${WATCH_UNIT}`, `systemctl disable ${WATCH_UNIT}`, `${NAME} cdi revert /etc/cdi /var/run/cdi`] },
    'preun with 0 left (removal): stop and disable, then revert both spec directories',
  )
  const refused = scriptlet('preun', 0, { NPH_TEST_REVERT_STATUS: '1' })
  t.equal(refused.status, 1, 'a revert that fails fails preun, and so the erase: the binary stays')
  t.match(refused.stderr, new RegExp(`^${NAME}: cannot revert the CDI specs above; fix them`))
  t.same(scriptlet('postun', 0).calls, ['systemctl --system daemon-reload'], 'postun (removal): reload')
  t.same(scriptlet('postun', 1).calls, ['systemctl --system daemon-reload'], 'postun (upgrade): reload, for units the new version dropped')

  rmSync('/var/run/cdi', { recursive: true })
  t.same(scriptlet('preun', 0).calls, [`systemctl stop ${WATCH_UNIT}`, `systemctl disable ${WATCH_UNIT}`, `${NAME} cdi revert /etc/cdi`], 'only the spec directories that exist')
  sh('/bin/rmdir', ['/run/systemd/system'])
  t.same(scriptlet('post', 1), { status: 0, stderr: '', calls: [] }, 'systemd not running the host: nothing to enable or start')
  t.same(scriptlet('preun', 0).calls, [`${NAME} cdi revert /etc/cdi`], '... or to stop, but the specs are still reverted')
  t.same(scriptlet('postun', 0).calls, [], '... and nothing to reload')
})
