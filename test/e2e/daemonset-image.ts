// The DaemonSet's image, built and run here without a registry: a Debian 12
// base assembled by mmdebstrap (minbase, from this machine's Debian mirror:
// build/debian-mirror.cjs) and imported into podman under the name
// deploy/Containerfile starts FROM, then `podman build --pull=never -f
// deploy/Containerfile`: podman never tries a registry, and a base that is
// not there fails the test with one line. Its two containers then run as deploy/daemonset.yaml
// says (commands, hostPath mounts, no capabilities, read-only root) against a
// scratch host root: the init container installs the executable, and the
// watcher patches a spec written to the host's /etc/cdi, then stops on SIGTERM.
// test/system/arm64.ts runs it again for the arm64 image: an arm64 base, the
// build's RUN under qemu-user, the arm64 executable in the image.
import t from 'tap'
import { enterPrivateMountNamespace } from '../harness/private-ns'
// The base (about 20 s) and the build (about 20 s), on top of podman's runs.
t.setTimeout(600_000)
enterPrivateMountNamespace()

import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parse } from 'yaml'
import { hideHybridCgroup2 } from '../harness/podman'
import { detachUnder } from '../harness/scratch'
import { DEB_ARCH, EXE, TARGET_ARCH } from '../harness/target'
import { ourCdiHook } from '../../src/registration'
import { debianMirror } from '../../build/debian-mirror.cjs'

const work = mkdtempSync(join(tmpdir(), 'nph-image-'))
t.teardown(() => {
  detachUnder(work)
  rmSync(work, { recursive: true, force: true })
})
hideHybridCgroup2()

interface Container {
  command: string[]
  volumeMounts: { name: string; mountPath: string }[]
  securityContext: { readOnlyRootFilesystem: boolean; capabilities: { drop: string[] } }
}
const manifest = parse(readFileSync('deploy/daemonset.yaml', 'utf8')) as {
  spec: { template: { spec: { initContainers: Container[]; containers: Container[]; volumes: { name: string; hostPath: { path: string } }[] } } }
}
const pod = manifest.spec.template.spec
const host = join(work, 'host')
const IMAGE = 'localhost/nvidia-procfs-hook:test'
/** The image's architecture, as podman and Debian name it: its base's, its executable's (TARGETARCH). */
const ARCH = DEB_ARCH[TARGET_ARCH] as string

// podman with its state under `work`, as test/harness/podman.ts sets it up.
const conf = join(work, 'containers.conf')
writeFileSync(conf, '[containers]\ndefault_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]\n[engine]\ncgroup_manager = "cgroupfs"\nevents_logger = "file"\n')
const podman = (...args: string[]) =>
  spawnSync('/usr/bin/podman', ['--root', join(work, 'root'), '--runroot', join(work, 'runroot'), '--tmpdir', join(work, 'tmp'), '--storage-driver', 'vfs', ...args], {
    encoding: 'utf8',
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CONTAINERS_CONF: conf, HOME: work, PODMAN_IGNORE_CGROUPSV1_WARNING: '1' },
    timeout: 300_000,
  })

/** `podman run` of a container of the manifest: its hostPath volumes under the scratch host root, its security context. */
const runArgs = (c: Container) => [
  '--network', 'none',
  '--cap-drop', c.securityContext.capabilities.drop.join(','),
  ...(c.securityContext.readOnlyRootFilesystem ? ['--read-only'] : []),
  ...c.volumeMounts.flatMap(m => {
    const source = join(host, pod.volumes.find(v => v.name === m.name)?.hostPath.path ?? 'missing')
    mkdirSync(source, { recursive: true }) // type: DirectoryOrCreate
    return ['-v', `${source}:${m.mountPath}`]
  }),
  '--entrypoint', c.command[0] as string,
  IMAGE,
  ...c.command.slice(1),
]

t.test('the image builds from deploy/Containerfile on a Debian 12 base made here', async t => {
  const base = join(work, 'base.tar')
  const debootstrap = spawnSync('/usr/bin/mmdebstrap', ['--quiet', '--mode=root', '--variant=minbase', `--architectures=${ARCH}`, '--aptopt=Acquire::Check-Valid-Until "false"', 'bookworm', base, debianMirror()], { encoding: 'utf8' })
  t.equal(debootstrap.status, 0, debootstrap.stderr)
  const from = /^FROM (\S+)$/m.exec(readFileSync('deploy/Containerfile', 'utf8'))?.[1] as string
  t.equal(podman('import', '--arch', ARCH, base, from).status, 0, `the base imported as ${from} (${ARCH})`)
  if (podman('image', 'exists', from).status !== 0) return t.fail(`no local image ${from} to build FROM (its import above failed); the build never pulls one`)
  // The Containerfile's RUN installs libatomic1 with apt from the base's
  // sources (the mirror above): the build needs that mirror, no registry.
  const built = podman('build', '--pull=never', '--platform', `linux/${ARCH}`, '--network', 'host', '-f', 'deploy/Containerfile', '-t', IMAGE, '.')
  t.equal(built.status, 0, built.stderr.slice(-2000))
  t.equal(podman('image', 'inspect', '--format', '{{.Architecture}}', IMAGE).stdout, `${ARCH}\n`, `an ${ARCH} image`)
  const version = podman('run', '--rm', '--network', 'none', IMAGE, '--version')
  t.match(version.stdout, /^nvidia-procfs-hook \d+\.\d+\.\d+ \(node v26\.\d+\.\d+\)\n$/)
  const notices = podman('run', '--rm', '--network', 'none', '--entrypoint', '/bin/cat', IMAGE, '/usr/share/doc/nvidia-procfs-hook/THIRD-PARTY-NOTICES')
  t.equal(notices.stdout, readFileSync(`dist/linux-${DEB_ARCH[TARGET_ARCH]}/THIRD-PARTY-NOTICES`, 'utf8'), 'the licences of what the executable holds, as the build wrote them')
})

t.test('the init container installs the executable on the host', async t => {
  const init = pod.initContainers[0] as Container
  const r = podman('run', '--rm', ...runArgs(init))
  t.equal(r.status, 0, r.stderr)
  t.equal(readFileSync(join(host, 'usr/local/bin/nvidia-procfs-hook')).equals(readFileSync(EXE)), true, 'the same executable')
  t.match(JSON.parse(readFileSync(join(host, 'var/lib/nvidia-procfs-hook/install.json'), 'utf8')), { files: ['/usr/local/bin/nvidia-procfs-hook'] })
})

t.test('the watcher patches a spec the host gets, and stops on SIGTERM with 0', async t => {
  const watcher = pod.containers[0] as Container
  const started = podman('run', '-d', '--name', 'cdi-patch', ...runArgs(watcher))
  t.equal(started.status, 0, started.stderr)
  const nvidia = { hookName: 'createContainer', path: '/usr/bin/nvidia-ctk', args: ['nvidia-ctk', 'hook', 'disable-device-node-modification'], env: ['NVIDIA_CTK_DEBUG=false'] }
  const spec = join(host, 'etc/cdi/nvidia.json')
  const fresh = JSON.stringify({ cdiVersion: '0.5.0', kind: 'nvidia.com/gpu', devices: [{ name: '0', containerEdits: {} }], containerEdits: { hooks: [nvidia] } })
  writeFileSync(spec, fresh)
  for (let i = 0; i < 200 && !readFileSync(spec, 'utf8').includes('nvidia-procfs-hook'); i++) await new Promise(r => setTimeout(r, 50))
  t.equal(readFileSync(spec, 'utf8'), fresh.replace('"hooks":[', `"hooks":[${JSON.stringify(ourCdiHook({ binary: '/usr/local/bin/nvidia-procfs-hook' }))},`), 'our entry, naming the installed path')
  t.equal(podman('stop', '--time', '10', 'cdi-patch').status, 0)
  t.equal(podman('inspect', '--format', '{{.State.ExitCode}}', 'cdi-patch').stdout.trim(), '0', 'SIGTERM: exit 0')
  t.match(podman('logs', 'cdi-patch').stdout, /watching /)
  podman('rm', 'cdi-patch')
})
