// Every hooks.d directory the .deb, the .rpm and `install` produce, loaded
// by containers/common's own pkg/hooks (built here from Debian's packages:
// test/harness/hooks-loader.ts) as each engine calls it:
// - CRI-O (internal/lib/container_server.go) and containerd's NRI
//   hook-injector: hooks.New(ctx, dirs, []string{}) on the directories CRI-O
//   reads (its default, and the /etc one its docs name). One file it
//   refuses (podman's `precreate` stage) and CRI-O does not start: none may.
// - podman: hooks.New(ctx, hooks_dir, {"precreate"}) on the hooks_dir in
//   effect (containers.conf and our drop-in).
// Each file system is the one the package or install leaves, entered with
// chroot: pkg/hooks skips a hook whose binary is missing without a word, so
// the files are loaded where their binaries are.
import t from 'tap'
import { execFileSync, spawnSync } from 'node:child_process'
import { closeSync, cpSync, existsSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { version } from '../../package.json'
import { podmanHooksDirs } from '../../src/containers-conf'
import { CRIO_HOOKS_FILE, HOOKS_D_DIRS, PODMAN_DEFAULT_HOOKS_DIRS, PODMAN_HOOKS_DIR, podmanHooksDirFor } from '../../src/host-layout'
import { ourHook } from '../../src/registration'
import { hooksLoader, loadHooks } from '../harness/hooks-loader'
import { DEB_ARCH, QEMU_ARCH } from '../harness/target'

t.setTimeout(300_000)
const NAME = 'nvidia-procfs-hook'
const EXE = resolve(`dist/${NAME}`)
const ENV = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LC_ALL: 'C' }
const sh = (cmd: string, args: string[]) => execFileSync(cmd, args, { encoding: 'utf8', env: ENV, stdio: ['ignore', 'pipe', 'pipe'] })

const work = mkdtempSync(join(tmpdir(), 'nph-hooks-loader-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
const loader = hooksLoader()

// The packages, built as `npm run package` builds them (this architecture only), and unpacked.
const out = join(work, 'out')
for (const script of ['build/deb.mjs', 'build/rpm.mjs']) sh('/usr/bin/env', ['-u', 'NODE_OPTIONS', process.execPath, script, '--arch', process.arch, out])
const debRoot = join(work, 'deb')
sh('dpkg-deb', ['-x', join(out, `${NAME}_${version}_${DEB_ARCH[process.arch]}.deb`), debRoot])
const rpmRoot = join(work, 'rpm')
mkdirSync(rpmRoot)
const tar = join(work, 'rpm.tar')
const [input, output] = [openSync(join(out, `${NAME}-${version}-1.${QEMU_ARCH[process.arch]}.rpm`), 'r'), openSync(tar, 'w')]
spawnSync('/usr/bin/rpm2archive', ['--nocompression', '-'], { stdio: [input, output, 'inherit'], env: ENV })
closeSync(input)
closeSync(output)
sh('/bin/tar', ['-xf', tar, '-C', rpmRoot])

/** `install ARGS --host-root ROOT`, run by the built executable. */
const install = (root: string, ...args: string[]) => {
  const res = spawnSync(EXE, ['install', '--host-root', root, ...args], { encoding: 'utf8', env: ENV })
  if (res.status !== 0) throw new Error(`install ${args.join(' ')}: ${res.stderr}`)
  return res.stdout
}
// install without the package, on a host whose containers.conf names an operator's hooks directory.
const installRoot = join(work, 'install')
mkdirSync(join(installRoot, 'etc/containers'), { recursive: true })
writeFileSync(join(installRoot, 'etc/containers/containers.conf'), '[engine]\nhooks_dir = ["/usr/share/containers/oci/hooks.d", "/opt/operator/hooks.d"]\n')
install(installRoot, '--hooks-d')
// install --prefix /usr --hooks-d on a host with the package: it adds podman's drop-in, naming the package's directory.
const packagePlusInstall = join(work, 'deb-and-install')
cpSync(debRoot, packagePlusInstall, { recursive: true })
install(packagePlusInstall, '--prefix', '/usr', '--hooks-d')

const HASH = { 'io.kubernetes.container.hash': '5b3c2a1f' }
const crioEntry = (binary: string) => ourHook({ binary })
const precreateEntry = (binary: string) => ({
  path: binary,
  args: [NAME, 'precreate', ...(binary === `/usr/bin/${NAME}` ? [] : ['--binary', binary])],
  env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'],
})

/** podman's hooks_dir in effect on `root`, from its containers.conf files (our drop-in among them). */
const podmanDirs = (root: string) => podmanHooksDirs(root).dirs

const cases = [
  { name: 'the .deb', root: debRoot, binary: `/usr/bin/${NAME}`, precreateDir: undefined },
  { name: 'the .rpm', root: rpmRoot, binary: `/usr/bin/${NAME}`, precreateDir: undefined },
  { name: 'install --hooks-d', root: installRoot, binary: `/usr/local/bin/${NAME}`, precreateDir: podmanHooksDirFor('/usr/local') },
  { name: 'the .deb, then install --prefix /usr --hooks-d', root: packagePlusInstall, binary: `/usr/bin/${NAME}`, precreateDir: PODMAN_HOOKS_DIR },
]

for (const c of cases) {
  t.test(`${c.name}: CRI-O and the NRI hook-injector load it; podman loads it`, async t => {
    const crio = (annotations: Record<string, string>) => loadHooks(loader, c.root, HOOKS_D_DIRS, { annotations })
    t.ok(existsSync(join(c.root, CRIO_HOOKS_FILE)), `${CRIO_HOOKS_FILE} is there`)
    const kubelet = crio(HASH)
    t.equal(kubelet.error, undefined, 'hooks.New(ctx, dirs, []string{}) succeeds: CRI-O starts')
    t.same(kubelet.hooks?.createContainer, [crioEntry(c.binary)], "a kubelet container gets our createContainer entry, and only that (CRI-O adds it before CDI's)")
    t.same(kubelet.extension, null, 'no extension stage')
    const none = crio({})
    t.same([none.error, none.hooks ?? {}, none.extension], [undefined, {}, null], "a container without kubelet's annotation: nothing (podman's containers)")

    const dirs = podmanDirs(c.root)
    t.comment(`podman's hooks_dir: ${JSON.stringify(dirs)}`)
    const podman = loadHooks(loader, c.root, dirs, { extensionStages: ['precreate'] })
    t.equal(podman.error, undefined, 'hooks.New(ctx, hooks_dir, {"precreate"}) succeeds')
    if (c.precreateDir === undefined) {
      t.same(podman.extension, null, 'the package alone: podman does not read the precreate directory (cdi patch is the route)')
    } else {
      t.same(podman.extension, { precreate: [precreateEntry(c.binary)] }, 'podman gets our precreate hook through the drop-in')
      t.equal(dirs[dirs.length - 1], c.precreateDir, "the precreate directory last, after every directory podman read before")
      const precreateAlone = loadHooks(loader, c.root, [c.precreateDir])
      t.match(precreateAlone.error, /unknown stage "precreate"/, 'that directory is one CRI-O must never read: its loader refuses it')
    }
    t.same(podman.hooks ?? {}, {}, "podman's containers do not match CRI-O's file")
  })
}

t.test("install keeps the operator's hooks directories", async t => {
  t.same(podmanDirs(installRoot), ['/usr/share/containers/oci/hooks.d', '/opt/operator/hooks.d', podmanHooksDirFor('/usr/local')])
  t.same(podmanDirs(packagePlusInstall), [...PODMAN_DEFAULT_HOOKS_DIRS, PODMAN_HOOKS_DIR])
})

t.test('not pretended: 0.1.0\'s layout (the precreate file where CRI-O reads) fails the loader as CRI-O calls it', async t => {
  const old = join(work, 'old')
  mkdirSync(join(old, 'usr/share/containers/oci/hooks.d'), { recursive: true })
  cpSync(join(debRoot, 'usr/bin'), join(old, 'usr/bin'), { recursive: true })
  cpSync(join(debRoot, PODMAN_HOOKS_DIR, `${NAME}.json`), join(old, `usr/share/containers/oci/hooks.d/${NAME}.json`))
  t.same(loadHooks(loader, old, HOOKS_D_DIRS), { error: 'unknown stage "precreate"' }, 'CRI-O would not start')
  t.equal(loadHooks(loader, old, PODMAN_DEFAULT_HOOKS_DIRS, { extensionStages: ['precreate'] }).error, undefined, 'podman loads it')
})
