import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { main, processIO } from '../../src/cli'
import { CRIO_HOOKS_FILE, LEGACY_PRECREATE_FILE, MANIFEST, PODMAN_DROP_IN } from '../../src/host-layout'
import type { HookIO } from '../../src/hook'
import { parseHooksFile } from '../../src/hooks-d'
import { crioHooksFileFor, dropInFor, hooksFileFor, INSTALL_USAGE, precreateFileFor } from '../../src/install'
import { DEFAULT_BINARY } from '../../src/registration'

const FIXTURES = join(__dirname, '../fixtures/cdi')
const BIN = '/usr/local/bin/nvidia-procfs-hook'
/** Where install --hooks-d puts podman's precreate file for the default prefix. */
const HOOKS_FILE = '/usr/local/share/nvidia-procfs-hook/hooks.d/nvidia-procfs-hook.json'
const PODMAN_DIRS = ['/usr/share/containers/oci/hooks.d', '/usr/local/share/nvidia-procfs-hook/hooks.d']

const run = (argv: string[], self: string[]) => {
  const out: string[] = []
  const err: string[] = []
  const io: HookIO = { ...processIO(), self, out: l => out.push(l), err: l => err.push(l) }
  return { code: main(argv, io), out, err }
}

/** Every path under `dir` with its content (files), link target or mode (dirs). */
const snapshot = (dir: string, base = dir): Record<string, string> => {
  const out: Record<string, string> = {}
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name)
    const st = lstatSync(p)
    const key = p.slice(base.length)
    if (st.isDirectory()) Object.assign(out, { [`${key}/`]: (st.mode & 0o7777).toString(8) }, snapshot(p, base))
    else out[key] = st.isSymbolicLink() ? `-> ${readlinkSync(p)}` : `${(st.mode & 0o7777).toString(8)} ${readFileSync(p, 'utf8')}`
  }
  return out
}

/** A host with CDI specs, and an "executable" to install (a single executable stand-in). */
const setup = (t: Test, specs: Record<string, string> = {}) => {
  const dir = t.testdir({
    host: {
      etc: { cdi: { 'nvidia.yaml': readFileSync(join(FIXTURES, 'nvidia-ctk.yaml'), 'utf8'), ...specs } },
      var: { run: { cdi: { 'k8s.device-plugin.nvidia.com-gpu.json': readFileSync(join(FIXTURES, 'k8s-device-plugin.json'), 'utf8') } } },
      usr: { bin: {} },
    },
    'nvidia-procfs-hook': '#!/bin/sh\necho version 1\n',
  })
  return { root: join(dir, 'host'), exe: join(dir, 'nvidia-procfs-hook'), dir }
}

t.test('usage', async t => {
  const self = ['/x']
  t.same(run(['install', '--help'], self), { code: 0, out: [INSTALL_USAGE], err: [] })
  t.same(run(['uninstall', '--help'], self), { code: 0, out: [INSTALL_USAGE], err: [] })
  const cases: [string[], string][] = [
    [['install', 'now'], 'install: unexpected argument "now"'],
    [['install', '--prefix', 'usr'], 'install: --prefix must be an absolute path'],
    [['install', '--host-root', '/nonexistent'], 'install: --host-root /nonexistent is not a directory'],
    [['install', '--force'], 'install: unknown option --force'],
    [['uninstall', 'now'], 'uninstall: unexpected argument "now"'],
    [['uninstall', '--cdi'], 'uninstall: unknown option --cdi'],
  ]
  for (const [argv, message] of cases) t.same(run(argv, self), { code: 2, out: [], err: [`nvidia-procfs-hook: error: ${message}`] }, argv.join(' '))
})

t.test('the hooks.d files install writes are the shipped ones, for the default binary', async t => {
  const shipped = (name: string) => readFileSync(join(__dirname, '../../hooks.d', name), 'utf8')
  t.equal(hooksFileFor(DEFAULT_BINARY), shipped('nvidia-procfs-hook.json'), 'precreate: byte for byte')
  t.equal(crioHooksFileFor(DEFAULT_BINARY), shipped('nvidia-procfs-hook-createcontainer.json'), "CRI-O's createContainer file: byte for byte")
  t.equal(precreateFileFor('/usr'), '/usr/share/nvidia-procfs-hook/hooks.d/nvidia-procfs-hook.json', "the packages' place, prefix /usr")
  t.equal(precreateFileFor('/usr/local'), HOOKS_FILE)
  t.equal(precreateFileFor('/'), '/share/nvidia-procfs-hook/hooks.d/nvidia-procfs-hook.json', 'prefix /: no doubled slash')
  const other = parseHooksFile(hooksFileFor(BIN), 'x')
  t.same(other.hook.args, ['nvidia-procfs-hook', 'precreate', '--binary', BIN], 'precreate inserts an entry running the installed binary')
  t.equal(other.hook.path, BIN)
  const crio = JSON.parse(crioHooksFileFor(BIN))
  t.same(crio.hook, { path: BIN, args: ['nvidia-procfs-hook', 'hook', '--stage', 'createContainer'], env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin'] })
  t.same(crio.stages, ['createContainer'])
  t.same(crio.when, { annotations: { '^io\\.kubernetes\\.container\\.hash$': '.*' } }, "kubelet's containers only: podman never sets that annotation")
})

t.test('install, install again, uninstall: the host is as it was', async t => {
  const { root, exe } = setup(t)
  const before = snapshot(root)
  const first = run(['install', '--host-root', root, '--hooks-d', '--cdi'], [exe])
  t.same(first, {
    code: 0,
    out: [
      `recorded ${root}${MANIFEST}`,
      `installed ${root}${BIN}`,
      `wrote ${root}${HOOKS_FILE}`,
      `wrote ${root}${CRIO_HOOKS_FILE}`,
      `wrote ${root}${PODMAN_DROP_IN}`,
      `patched ${root}/etc/cdi/nvidia.yaml (1 hooks list)`,
      `patched ${root}/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json (1 hooks list)`,
    ],
    err: [],
  })
  t.equal(readFileSync(join(root, BIN), 'utf8'), readFileSync(exe, 'utf8'))
  t.equal(statSync(join(root, BIN)).mode & 0o7777, 0o755)
  for (const [file, text] of [[HOOKS_FILE, hooksFileFor(BIN)], [CRIO_HOOKS_FILE, crioHooksFileFor(BIN)], [PODMAN_DROP_IN, dropInFor(PODMAN_DIRS)]] as const) {
    t.equal(readFileSync(join(root, file), 'utf8'), text, file)
    t.equal(statSync(join(root, file)).mode & 0o7777, 0o644)
  }
  t.match(readFileSync(join(root, PODMAN_DROP_IN), 'utf8'), /\n\[engine\]\nhooks_dir = \["\/usr\/share\/containers\/oci\/hooks\.d", "\/usr\/local\/share\/nvidia-procfs-hook\/hooks\.d"\]\n$/, "podman's default, then ours")
  t.notOk(statSync(join(root, LEGACY_PRECREATE_FILE), { throwIfNoEntry: false }), 'no precreate file where CRI-O reads')
  t.match(readFileSync(join(root, 'etc/cdi/nvidia.yaml'), 'utf8'), `- {hookName: createContainer, path: ${BIN}, args: [nvidia-procfs-hook, hook, --stage, createContainer]`)
  t.same(JSON.parse(readFileSync(join(root, MANIFEST), 'utf8')), {
    files: [BIN, HOOKS_FILE, CRIO_HOOKS_FILE, PODMAN_DROP_IN],
    dirs: [
      '/var/lib',
      '/var/lib/nvidia-procfs-hook',
      '/usr/local',
      '/usr/local/bin',
      '/usr/local/share',
      '/usr/local/share/nvidia-procfs-hook',
      '/usr/local/share/nvidia-procfs-hook/hooks.d',
      '/usr/share',
      '/usr/share/containers',
      '/usr/share/containers/oci',
      '/usr/share/containers/oci/hooks.d',
      '/etc/containers',
      '/etc/containers/containers.conf.d',
    ],
    specs: ['/etc/cdi/nvidia.yaml', '/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json'],
  })
  const installed = snapshot(root)
  t.notOk(Object.keys(installed).some(k => k.endsWith('.tmp')), 'no temp file left')

  t.same(run(['install', '--host-root', root, '--hooks-d', '--cdi'], [exe]), { code: 0, out: [`${root}${BIN} is installed; nothing to change`], err: [] }, 'idempotent')
  t.same(snapshot(root), installed)
  t.same(JSON.parse(run(['install', '--host-root', root, '--json'], [exe]).out[0] as string), { changed: [], binary: BIN })

  const uninstalled = run(['uninstall', '--host-root', root], [exe])
  t.same(uninstalled, {
    code: 0,
    out: [
      `reverted ${root}/etc/cdi/nvidia.yaml`,
      `reverted ${root}/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json`,
      `removed ${root}${PODMAN_DROP_IN}`,
      `removed ${root}${CRIO_HOOKS_FILE}`,
      `removed ${root}${HOOKS_FILE}`,
      `removed ${root}${BIN}`,
      `removed ${root}${MANIFEST}`,
    ],
    err: [],
  })
  t.same(snapshot(root), before, 'every file and directory as before, specs byte for byte')
  t.same(run(['uninstall', '--host-root', root], [exe]), { code: 0, out: [`nothing to uninstall: ${root}${MANIFEST} does not exist`], err: [] })
  t.same(JSON.parse(run(['uninstall', '--host-root', root, '--json'], [exe]).out[0] as string), { changed: [] })
})

t.test('a new version replaces the old; --prefix; --json', async t => {
  const { root, exe } = setup(t)
  t.equal(run(['install', '--host-root', root, '--prefix', '/opt/nph'], [exe]).code, 0)
  const ino = statSync(join(root, '/opt/nph/bin/nvidia-procfs-hook')).ino
  writeFileSync(exe, '#!/bin/sh\necho version 2\n')
  const res = run(['install', '--host-root', root, '--prefix', '/opt/nph', '--json'], [exe])
  t.same(JSON.parse(res.out[0] as string), { changed: [{ action: 'installed', path: `${root}/opt/nph/bin/nvidia-procfs-hook` }], binary: '/opt/nph/bin/nvidia-procfs-hook' })
  t.equal(readFileSync(join(root, '/opt/nph/bin/nvidia-procfs-hook'), 'utf8'), '#!/bin/sh\necho version 2\n')
  t.not(statSync(join(root, '/opt/nph/bin/nvidia-procfs-hook')).ino, ino, 'renamed into place, not rewritten in place')
  const json = JSON.parse(run(['uninstall', '--host-root', root, '--json'], [exe]).out[0] as string) as { changed: unknown[] }
  t.same(json.changed, [
    { action: 'removed', path: `${root}/opt/nph/bin/nvidia-procfs-hook` },
    { action: 'removed', path: `${root}${MANIFEST}` },
  ])
  t.notOk(statSync(join(root, 'opt'), { throwIfNoEntry: false }), 'the directories it created are gone')
})

t.test('files install did not write are never replaced nor removed', async t => {
  const { root, exe } = setup(t)
  mkdirSync(join(root, 'usr/local/bin'), { recursive: true })
  writeFileSync(join(root, BIN), 'from somewhere else')
  const refused = run(['install', '--host-root', root], [exe])
  t.same(refused, {
    code: 1,
    out: [],
    err: [`nvidia-procfs-hook: error: install: ${root}${BIN} exists and was not written by install (a package's? see dpkg -S ${BIN}); remove it or choose another --prefix`],
  })
  t.notOk(statSync(join(root, 'var/lib'), { throwIfNoEntry: false }), 'nothing written, not even the manifest')

  writeFileSync(join(root, BIN), readFileSync(exe))
  for (const [file, text] of [[HOOKS_FILE, hooksFileFor(BIN)], [CRIO_HOOKS_FILE, crioHooksFileFor(BIN)], [PODMAN_DROP_IN, dropInFor(PODMAN_DIRS)]] as const) {
    mkdirSync(join(root, dirname(file)), { recursive: true })
    writeFileSync(join(root, file), text)
  }
  t.same(run(['install', '--host-root', root, '--hooks-d'], [exe]).out, [`recorded ${root}${MANIFEST}`], 'identical files are left alone, and not recorded')
  t.same(run(['uninstall', '--host-root', root], [exe]).out, [`removed ${root}${MANIFEST}`])
  t.equal(readFileSync(join(root, BIN), 'utf8'), readFileSync(exe, 'utf8'), 'still there')
  for (const file of [HOOKS_FILE, CRIO_HOOKS_FILE, PODMAN_DROP_IN]) t.ok(statSync(join(root, file)).isFile(), `${file} still there`)

  writeFileSync(join(root, CRIO_HOOKS_FILE), crioHooksFileFor(DEFAULT_BINARY))
  t.same(run(['install', '--host-root', root, '--hooks-d'], [exe]).err, [
    `nvidia-procfs-hook: error: install: ${root}${CRIO_HOOKS_FILE} exists and was not written by install (a package's? see dpkg -S ${CRIO_HOOKS_FILE}); if the package put it there, it registers the hook already: leave out --hooks-d (with the package, \`install --prefix /usr --hooks-d\` adds only podman's drop-in)`,
  ], "the package's hooks.d file")
})

t.test("with the package: install --prefix /usr --hooks-d adds only podman's drop-in", async t => {
  const { root, exe, dir } = setup(t)
  // The package's files, and the package's binary running install.
  const pkgBin = join(dir, 'pkg-bin')
  writeFileSync(pkgBin, readFileSync(exe))
  for (const [file, text] of [[DEFAULT_BINARY, readFileSync(exe, 'utf8')], [precreateFileFor('/usr'), hooksFileFor(DEFAULT_BINARY)], [CRIO_HOOKS_FILE, crioHooksFileFor(DEFAULT_BINARY)]] as const) {
    mkdirSync(join(root, dirname(file)), { recursive: true })
    writeFileSync(join(root, file), text)
  }
  const before = snapshot(root)
  t.same(run(['install', '--host-root', root, '--prefix', '/usr', '--hooks-d'], [pkgBin]).out, [`recorded ${root}${MANIFEST}`, `wrote ${root}${PODMAN_DROP_IN}`])
  t.equal(readFileSync(join(root, PODMAN_DROP_IN), 'utf8'), dropInFor(['/usr/share/containers/oci/hooks.d', '/usr/share/nvidia-procfs-hook/hooks.d']))
  t.equal(run(['uninstall', '--host-root', root], [pkgBin]).code, 0)
  t.same(snapshot(root), before, "the package's files stay")
})

t.test('the drop-in keeps every hooks directory the operator configured', async t => {
  const { root, exe } = setup(t)
  const conf = (file: string, text: string) => {
    mkdirSync(join(root, dirname(file)), { recursive: true })
    writeFileSync(join(root, file), text)
  }
  conf('/usr/share/containers/containers.conf', '[engine]\n# the distribution\'s\nhooks_dir = ["/usr/share/containers/oci/hooks.d"]\n')
  conf('/etc/containers/containers.conf', '[containers]\nhooks_dir = ["/not/engine"]\n[engine]\nhooks_dir = [\n  "/opt/vendor/hooks.d",  # a comment\n  \'/etc/containers/oci/hooks.d\',\n]\n[engine.runtimes]\nrunc = ["/usr/bin/runc"]\n')
  conf('/etc/containers/containers.conf.d/10-more.conf', '[engine]\nhooks_dir = ["/opt/more", {append = true}]\n')
  t.equal(run(['install', '--host-root', root, '--hooks-d'], [exe]).code, 0)
  t.equal(
    readFileSync(join(root, PODMAN_DROP_IN), 'utf8'),
    dropInFor(['/opt/vendor/hooks.d', '/etc/containers/oci/hooks.d', '/opt/more', '/usr/local/share/nvidia-procfs-hook/hooks.d']),
    "the operator's list (containers.conf, then drop-ins in order; podman 5's append), then ours",
  )
  // The operator adds a directory: install again recomputes (its own drop-in left out) and rewrites its file.
  conf('/etc/containers/containers.conf.d/20-later.conf', '[engine]\nhooks_dir = ["/opt/later", {append=true}]\n')
  t.same(run(['install', '--host-root', root, '--hooks-d'], [exe]).out, [`wrote ${root}${PODMAN_DROP_IN}`])
  t.match(readFileSync(join(root, PODMAN_DROP_IN), 'utf8'), 'hooks_dir = ["/opt/vendor/hooks.d", "/etc/containers/oci/hooks.d", "/opt/more", "/opt/later", "/usr/local/share/nvidia-procfs-hook/hooks.d"]\n')

  // A drop-in read after ours that replaces hooks_dir: ours would change nothing.
  conf('/etc/containers/containers.conf.d/zz-last.conf', '[engine]\nhooks_dir = ["/opt/only"]\n')
  t.same(run(['install', '--host-root', root, '--hooks-d'], [exe]), {
    code: 1,
    out: [],
    err: [`nvidia-procfs-hook: error: install: ${root}/etc/containers/containers.conf.d/zz-last.conf sets podman's hooks_dir after ${PODMAN_DROP_IN} would: add /usr/local/share/nvidia-procfs-hook/hooks.d to it there, and leave out --hooks-d`],
  })
  // Where podman already reads our directory, no drop-in is needed.
  conf('/etc/containers/containers.conf.d/zz-last.conf', '[engine]\nhooks_dir = ["/usr/local/share/nvidia-procfs-hook/hooks.d"]\n')
  t.equal(run(['uninstall', '--host-root', root], [exe]).code, 0)
  t.same(run(['install', '--host-root', root, '--hooks-d'], [exe]).out, [`recorded ${root}${MANIFEST}`, `installed ${root}${BIN}`, `wrote ${root}${HOOKS_FILE}`, `wrote ${root}${CRIO_HOOKS_FILE}`])

  // A hooks_dir this cannot read for sure: no drop-in built on a guess.
  conf('/etc/containers/containers.conf.d/zz-last.conf', '[engine]\nhooks_dir = "/x"\n')
  t.same(run(['install', '--host-root', root, '--hooks-d'], [exe]).err, [`nvidia-procfs-hook: error: ${root}/etc/containers/containers.conf.d/zz-last.conf: [engine] hooks_dir is not an array`])
})

t.test("0.1.0's precreate file where CRI-O reads it: install removes the one it wrote", async t => {
  const { root, exe } = setup(t)
  mkdirSync(join(root, dirname(LEGACY_PRECREATE_FILE)), { recursive: true })
  writeFileSync(join(root, LEGACY_PRECREATE_FILE), hooksFileFor(BIN))
  mkdirSync(join(root, dirname(MANIFEST)), { recursive: true })
  writeFileSync(join(root, MANIFEST), JSON.stringify({ files: [BIN, LEGACY_PRECREATE_FILE], dirs: [], specs: [] }))
  t.same(run(['install', '--host-root', root], [exe]).out, [`removed ${root}${LEGACY_PRECREATE_FILE}`, `recorded ${root}${MANIFEST}`, `installed ${root}${BIN}`])
  t.notOk(statSync(join(root, LEGACY_PRECREATE_FILE), { throwIfNoEntry: false }))
  t.same(JSON.parse(readFileSync(join(root, MANIFEST), 'utf8')).files, [BIN])
  // One install did not write (the 0.1.0 package's): left alone.
  writeFileSync(join(root, LEGACY_PRECREATE_FILE), hooksFileFor(DEFAULT_BINARY))
  t.same(run(['install', '--host-root', root], [exe]).out, [`${root}${BIN} is installed; nothing to change`])
  t.ok(statSync(join(root, LEGACY_PRECREATE_FILE)).isFile())
})

t.test('--host-root: host paths resolve inside it (/var/run -> /run, absolute links re-rooted)', async t => {
  const dir = t.testdir({
    host: {
      etc: { cdi: {} },
      run: { cdi: { 'k8s.device-plugin.nvidia.com-gpu.json': readFileSync(join(FIXTURES, 'k8s-device-plugin.json'), 'utf8') } },
      opt: { specs: { 'nvidia.yaml': readFileSync(join(FIXTURES, 'nvidia-ctk.yaml'), 'utf8') } },
      var: {},
    },
    'nvidia-procfs-hook': '#!/bin/sh\n',
  })
  const root = join(dir, 'host')
  const exe = join(dir, 'nvidia-procfs-hook')
  // Debian and Ubuntu: /var/run -> /run; and a spec linked by an absolute path, as the host names it.
  symlinkSync('/run', join(root, 'var/run'))
  symlinkSync('/opt/specs/nvidia.yaml', join(root, 'etc/cdi/nvidia.yaml'))
  const before = snapshot(root)
  t.same(run(['install', '--host-root', root, '--cdi'], [exe]), {
    code: 0,
    out: [
      `recorded ${root}${MANIFEST}`,
      `installed ${root}${BIN}`,
      `patched ${root}/etc/cdi/nvidia.yaml (1 hooks list)`,
      `patched ${root}/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json (1 hooks list)`,
    ],
    err: [],
  })
  t.match(readFileSync(join(root, 'run/cdi/k8s.device-plugin.nvidia.com-gpu.json'), 'utf8'), BIN, "the spec behind /var/run -> /run, in the host's /run")
  t.match(readFileSync(join(root, 'opt/specs/nvidia.yaml'), 'utf8'), BIN, 'the linked spec, where the link points on the host')
  t.ok(lstatSync(join(root, 'etc/cdi/nvidia.yaml')).isSymbolicLink(), 'the link itself stays')
  t.same(JSON.parse(readFileSync(join(root, MANIFEST), 'utf8')).specs, ['/etc/cdi/nvidia.yaml', '/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json'], 'recorded as the host names them')
  t.equal(run(['uninstall', '--host-root', root], [exe]).code, 0)
  t.same(snapshot(root), before, 'uninstall reverts both, through the same resolution')
})

t.test('under Node: the executable that npm run build made, or a clear refusal', async t => {
  const { root, dir } = setup(t)
  mkdirSync(join(dir, 'dist'))
  writeFileSync(join(dir, 'dist/cli.js'), '')
  const refused = run(['install', '--host-root', root], [process.execPath, join(dir, 'dist/cli.js')])
  t.same(refused.code, 1)
  t.same(refused.err, [
    `nvidia-procfs-hook: error: install: this is nvidia-procfs-hook running under Node, and ${dir}/dist/nvidia-procfs-hook (the single executable to install) does not exist; run \`npm run build\` first, or run install from the executable`,
  ])
  writeFileSync(join(dir, 'dist/nvidia-procfs-hook'), 'built')
  symlinkSync(join(dir, 'dist/cli.js'), join(dir, 'npx-link'))
  t.equal(run(['install', '--host-root', root], [process.execPath, join(dir, 'npx-link')]).code, 0, 'through a link, like node_modules/.bin')
  t.equal(readFileSync(join(root, BIN), 'utf8'), 'built')
})

t.test('CDI specs that cannot be patched are reported; the rest is installed', async t => {
  const spec = JSON.parse(readFileSync(join(FIXTURES, 'k8s-device-plugin.json'), 'utf8')) as { devices: { containerEdits: { hooks?: unknown[] } }[]; containerEdits: { hooks: unknown[] } }
  for (const d of spec.devices) d.containerEdits.hooks = spec.containerEdits.hooks
  const { root, exe } = setup(t, { 'broken.json': '{"kind": ', 'other.yaml': 'kind: x/y\n', 'two.json': JSON.stringify(spec) })
  symlinkSync('/nonexistent/spec.yaml', join(root, 'etc/cdi/dangling.yaml'))
  const res = run(['install', '--host-root', root, '--cdi'], [exe])
  t.equal(res.code, 1)
  t.match(res.err, [/^nvidia-procfs-hook: error: install: .*\/etc\/cdi\/broken\.json: not valid JSON/, `nvidia-procfs-hook: error: install: ${root}/etc/cdi/dangling.yaml: ENOENT`])
  t.same(res.out, [
    `recorded ${root}${MANIFEST}`,
    `installed ${root}${BIN}`,
    `patched ${root}/etc/cdi/nvidia.yaml (1 hooks list)`,
    `patched ${root}/etc/cdi/two.json (${spec.devices.length + 1} hooks lists)`,
    `patched ${root}/var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json (1 hooks list)`,
  ])
})

t.test('uninstall: what changed since install', async t => {
  const { root, exe } = setup(t)
  t.equal(run(['install', '--host-root', root, '--cdi', '--hooks-d'], [exe]).code, 0)
  // The spec was regenerated without our entry; the other is gone; CRI-O's hooks.d file was removed by hand.
  writeFileSync(join(root, 'etc/cdi/nvidia.yaml'), readFileSync(join(FIXTURES, 'nvidia-ctk.yaml')))
  const gone = 'var/run/cdi/k8s.device-plugin.nvidia.com-gpu.json'
  spawnSync('/usr/bin/rm', ['-r', join(root, gone), join(root, 'usr/share/containers/oci/hooks.d')])
  writeFileSync(join(root, 'usr/local/bin/someone-elses'), '')
  t.same(run(['uninstall', '--host-root', root], [exe]).out, [`removed ${root}${PODMAN_DROP_IN}`, `removed ${root}${HOOKS_FILE}`, `removed ${root}${BIN}`, `removed ${root}${MANIFEST}`])
  t.ok(statSync(join(root, 'usr/local/bin/someone-elses')).isFile(), 'a directory with others\' files in it stays')
  t.notOk(statSync(join(root, 'usr/share'), { throwIfNoEntry: false }), 'empty ones go')
})

t.test('a bad manifest stops both commands', async t => {
  const { root, exe } = setup(t)
  mkdirSync(join(root, 'var/lib/nvidia-procfs-hook'), { recursive: true })
  writeFileSync(join(root, MANIFEST), '{"files": [')
  const message = `nvidia-procfs-hook: error: ${root}${MANIFEST} is not JSON; it lists what install wrote: repair it or remove what it names by hand`
  t.same(run(['install', '--host-root', root], [exe]).err, [message])
  t.same(run(['uninstall', '--host-root', root], [exe]).err, [message])
  writeFileSync(join(root, MANIFEST), '{"files": "x", "dirs": ["/not-a-dir"]}')
  writeFileSync(join(root, 'not-a-dir'), '')
  t.match(run(['uninstall', '--host-root', root], [exe]), { code: 1, err: [/^nvidia-procfs-hook: internal error: ENOTDIR: /] }, 'a recorded directory that is now a file is not removed')
  spawnSync('/usr/bin/rm', ['-r', join(root, MANIFEST)])
  mkdirSync(join(root, MANIFEST))
  t.same(run(['install', '--host-root', root], [exe]).err, [`nvidia-procfs-hook: error: cannot read ${root}${MANIFEST}: EISDIR`])
})

t.test('interrupted: every file is old or new, a rerun finishes, uninstall still undoes all', async t => {
  const { root, exe } = setup(t)
  const before = snapshot(root)
  const fs = require('node:fs') as typeof import('node:fs')
  let renames = 0
  const { installCommand } = t.mockRequire<typeof import('../../src/install')>('../../src/install', {
    'node:fs': {
      ...fs,
      renameSync: (from: string, to: string) => {
        // The manifest goes in, then the binary's rename fails as a crash would leave it.
        if (++renames === 2) throw Object.assign(new Error('EIO: i/o error, rename'), { code: 'EIO' })
        fs.renameSync(from, to)
      },
    },
  })
  const io: HookIO = { ...processIO(), self: [exe], out: () => {}, err: () => {} }
  t.throws(() => installCommand(['--host-root', root, '--hooks-d', '--cdi'], io), { message: `cannot write ${root}${BIN}: EIO` })
  t.notOk(statSync(join(root, BIN), { throwIfNoEntry: false }), 'no binary, not a partial one')
  t.same(readdirSync(join(root, 'usr/local/bin')), [], 'its temp file is removed')
  t.same(JSON.parse(readFileSync(join(root, MANIFEST), 'utf8')).files, [BIN, HOOKS_FILE, CRIO_HOOKS_FILE, PODMAN_DROP_IN], 'the manifest already names what was to be written')
  t.same(readFileSync(join(root, 'etc/cdi/nvidia.yaml'), 'utf8'), readFileSync(join(FIXTURES, 'nvidia-ctk.yaml'), 'utf8'), 'no spec runs a binary that is not there')

  // A run killed mid-copy leaves its temp file; the next run removes it.
  const dead = spawnSync('/bin/true').pid as number
  writeFileSync(join(root, `usr/local/bin/.nvidia-procfs-hook.${dead}.tmp`), 'partial')
  writeFileSync(join(root, `usr/local/bin/.nvidia-procfs-hook.${process.pid}.tmp.keep`), 'not ours')
  t.equal(run(['install', '--host-root', root, '--hooks-d', '--cdi'], [exe]).code, 0)
  t.same(readdirSync(join(root, 'usr/local/bin')).sort(), [`.nvidia-procfs-hook.${process.pid}.tmp.keep`, 'nvidia-procfs-hook'])
  writeFileSync(join(root, `usr/local/bin/.nvidia-procfs-hook.${dead}.tmp`), 'partial')
  writeFileSync(join(root, `var/lib/nvidia-procfs-hook/.install.json.${dead}.tmp`), 'partial')
  spawnSync('/usr/bin/rm', [join(root, `usr/local/bin/.nvidia-procfs-hook.${process.pid}.tmp.keep`)])
  t.equal(run(['uninstall', '--host-root', root], [exe]).code, 0)
  t.same(snapshot(root), before, 'uninstall removes temp files of killed runs too')
})

t.test('a write that fails is one line naming the file', async t => {
  const { root, exe } = setup(t)
  t.equal(run(['install', '--host-root', root], [exe]).code, 0)
  // Our own temp name is taken (pid reuse after a killed run, say): the write fails, nothing is half-done.
  mkdirSync(join(root, dirname(HOOKS_FILE)), { recursive: true })
  const tmp = join(root, `${dirname(HOOKS_FILE)}/.nvidia-procfs-hook.json.${process.pid}.tmp`)
  writeFileSync(tmp, '')
  t.same(run(['install', '--host-root', root, '--hooks-d'], [exe]).err, [`nvidia-procfs-hook: error: cannot write ${root}${HOOKS_FILE}: EEXIST`])
  t.notOk(statSync(join(root, HOOKS_FILE), { throwIfNoEntry: false }))
  t.notOk(statSync(tmp, { throwIfNoEntry: false }))
})

t.test('a spec rewritten while install patches it is left to its writer', async t => {
  const { root, exe } = setup(t)
  const atomic = require('../../src/atomic-write') as typeof import('../../src/atomic-write')
  const errors = require('../../src/errors') as typeof import('../../src/errors')
  let calls = 0
  const { installCommand } = t.mockRequire<typeof import('../../src/install')>('../../src/install', {
    '../../src/errors': errors,
    '../../src/atomic-write': {
      ...atomic,
      replaceFile: () => {
        if (++calls === 1) throw new errors.HookError('/etc/cdi/nvidia.yaml changed while it was being rewritten; left as its writer made it')
        throw new Error('a bug')
      },
    },
  })
  const err: string[] = []
  const io: HookIO = { ...processIO(), self: [exe], out: () => {}, err: l => err.push(l) }
  t.throws(() => installCommand(['--host-root', root, '--cdi'], io), { message: 'a bug' })
  t.same(err, ['nvidia-procfs-hook: error: install: /etc/cdi/nvidia.yaml changed while it was being rewritten; left as its writer made it'])
})

t.test('--cdi where the spec directories are absent or not directories: nothing to patch', async t => {
  const dir = t.testdir({ host: { etc: { cdi: 'a file' }, var: {} }, 'nvidia-procfs-hook': '#!/bin/sh\n' })
  const root = join(dir, 'host')
  symlinkSync('/run', join(root, 'var/run'))
  t.same(run(['install', '--host-root', root, '--cdi'], [join(dir, 'nvidia-procfs-hook')]), { code: 0, out: [`recorded ${root}${MANIFEST}`, `installed ${root}${BIN}`], err: [] })
})
