import t from 'tap'
import { readFileSync } from 'node:fs'
import { join, posix } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { version } from '../../package.json'
import { MANIFEST } from '../../src/host-layout'
import { parseArgs } from '../../src/parse-args'

const DEPLOY = join(__dirname, '../../deploy')

/**
 * A hand-written schema of the Kubernetes fields the manifest uses (a strict
 * subset of apps/v1 DaemonSet and core/v1 PodSpec): a misspelt or misplaced
 * key fails here instead of being dropped by the API server.
 */
type Schema = 'string' | 'boolean' | 'integer' | { array: Schema } | { map: Schema } | { fields: Record<string, Schema>; required?: string[] }

const str = 'string' as const
const bool = 'boolean' as const
const int = 'integer' as const
const labels: Schema = { map: str }
const securityContext: Schema = {
  fields: {
    runAsUser: int,
    runAsNonRoot: bool,
    privileged: bool,
    allowPrivilegeEscalation: bool,
    readOnlyRootFilesystem: bool,
    capabilities: { fields: { drop: { array: str }, add: { array: str } } },
  },
}
const container: Schema = {
  fields: {
    name: str,
    image: str,
    command: { array: str },
    securityContext,
    resources: { fields: { requests: { map: str }, limits: { map: str } } },
    volumeMounts: { array: { fields: { name: str, mountPath: str, readOnly: bool, mountPropagation: str }, required: ['name', 'mountPath'] } },
  },
  required: ['name', 'image', 'command'],
}
const DAEMONSET: Schema = {
  fields: {
    apiVersion: str,
    kind: str,
    metadata: { fields: { name: str, namespace: str, labels }, required: ['name'] },
    spec: {
      fields: {
        selector: { fields: { matchLabels: labels }, required: ['matchLabels'] },
        updateStrategy: { fields: { type: str } },
        template: {
          fields: {
            metadata: { fields: { labels }, required: ['labels'] },
            spec: {
              fields: {
                nodeSelector: labels,
                tolerations: { array: { fields: { key: str, operator: str, value: str, effect: str } } },
                priorityClassName: str,
                automountServiceAccountToken: bool,
                hostPID: bool,
                hostNetwork: bool,
                hostIPC: bool,
                terminationGracePeriodSeconds: int,
                initContainers: { array: container },
                containers: { array: container },
                volumes: {
                  array: { fields: { name: str, hostPath: { fields: { path: str, type: str }, required: ['path'] } }, required: ['name', 'hostPath'] },
                },
              },
              required: ['containers'],
            },
          },
          required: ['metadata', 'spec'],
        },
      },
      required: ['selector', 'template'],
    },
  },
  required: ['apiVersion', 'kind', 'metadata', 'spec'],
}

/** Every place where `value` departs from `schema`, as `path: what`. */
const validate = (value: unknown, schema: Schema, path = ''): string[] => {
  if (schema === 'string') return typeof value === 'string' ? [] : [`${path}: expected a string`]
  if (schema === 'boolean') return typeof value === 'boolean' ? [] : [`${path}: expected true or false`]
  if (schema === 'integer') return Number.isSafeInteger(value) ? [] : [`${path}: expected an integer`]
  if ('array' in schema) {
    if (!Array.isArray(value)) return [`${path}: expected a list`]
    return value.flatMap((v, i) => validate(v, schema.array, `${path}[${i}]`))
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${path}: expected a mapping`]
  const entries = Object.entries(value)
  if ('map' in schema) return entries.flatMap(([k, v]) => validate(v, schema.map, `${path}.${k}`))
  return [
    ...(schema.required ?? []).filter(k => !(k in value)).map(k => `${path}.${k}: required`),
    ...entries.flatMap(([k, v]) => (schema.fields[k] === undefined ? [`${path}.${k}: not a field this manifest may use`] : validate(v, schema.fields[k] as Schema, `${path}.${k}`))),
  ]
}

interface Container {
  name: string
  image: string
  command: string[]
  securityContext: Record<string, unknown>
  volumeMounts: { name: string; mountPath: string; mountPropagation?: string }[]
}
interface DaemonSet {
  apiVersion: string
  kind: string
  metadata: { name: string; namespace: string }
  spec: {
    selector: { matchLabels: Record<string, string> }
    template: {
      metadata: { labels: Record<string, string> }
      spec: {
        nodeSelector: Record<string, string>
        hostPID?: boolean
        hostNetwork?: boolean
        hostIPC?: boolean
        initContainers: Container[]
        containers: Container[]
        volumes: { name: string; hostPath: { path: string; type: string } }[]
      }
    }
  }
}

const docs = parseAllDocuments(readFileSync(join(DEPLOY, 'daemonset.yaml'), 'utf8'))
const ds = docs[0]?.toJS() as DaemonSet
const pod = ds.spec.template.spec
const all = [...pod.initContainers, ...pod.containers]
const byName = (name: string) => all.find(c => c.name === name) as Container

t.test('one valid YAML document, within the schema', async t => {
  t.equal(docs.length, 1)
  t.same(docs[0]?.errors, [])
  t.same(docs[0]?.warnings, [])
  t.same(validate(ds, DAEMONSET), [])
  t.same(validate({ apiVersion: 1, kind: 'x', metadata: { name: 'n', lables: {} }, spec: { selector: { matchLabels: { a: 2 } }, template: { metadata: { labels: {} }, spec: { containers: [{ name: 'c', image: 'i', command: 'x' }], hostPID: 'no', terminationGracePeriodSeconds: 1.5, volumes: {} } } } }, DAEMONSET), [
    '.apiVersion: expected a string',
    '.metadata.lables: not a field this manifest may use',
    '.spec.selector.matchLabels.a: expected a string',
    '.spec.template.spec.containers[0].command: expected a list',
    '.spec.template.spec.hostPID: expected true or false',
    '.spec.template.spec.terminationGracePeriodSeconds: expected an integer',
    '.spec.template.spec.volumes: expected a list',
  ], 'the schema check catches what it should')
  t.same(validate({ kind: 'x', spec: [] }, DAEMONSET), ['.apiVersion: required', '.metadata: required', '.spec: expected a mapping'])
})

t.test('a DaemonSet whose selector matches its pods, on GPU nodes only', async t => {
  t.equal(ds.apiVersion, 'apps/v1')
  t.equal(ds.kind, 'DaemonSet')
  t.ok(Object.keys(ds.spec.selector.matchLabels).length)
  for (const [k, v] of Object.entries(ds.spec.selector.matchLabels)) t.equal(ds.spec.template.metadata.labels[k], v, `template has ${k}=${v}`)
  t.same(pod.nodeSelector, { 'nvidia.com/gpu.present': 'true' })
})

t.test('least privilege', async t => {
  for (const key of ['hostPID', 'hostNetwork', 'hostIPC'] as const) t.not(pod[key], true, `no ${key}`)
  for (const c of all) {
    t.same(
      c.securityContext,
      { runAsUser: 0, runAsNonRoot: false, privileged: false, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
      `${c.name}: root without capabilities, not privileged`,
    )
  }
  const names = pod.volumes.map(v => v.name)
  t.equal(new Set(names).size, names.length, 'volume names are unique')
  for (const c of all) for (const m of c.volumeMounts) t.ok(names.includes(m.name), `${c.name}: volume ${m.name} exists`)
  for (const v of pod.volumes) {
    t.ok(all.some(c => c.volumeMounts.some(m => m.name === v.name)), `${v.name} is mounted`)
    t.not(v.hostPath.path, '/', `${v.name}: not the whole host`)
  }
  t.same(pod.volumes.map(v => v.hostPath.path).sort(), ['/etc/cdi', '/usr/local/bin', '/var/lib/nvidia-procfs-hook', '/var/run/cdi'], 'exactly the paths written')
})

t.test('the commands are ours and agree with each other and the image', async t => {
  const containerfile = readFileSync(join(DEPLOY, 'Containerfile'), 'utf8')
  const copied = /^COPY dist\/linux-\$\{TARGETARCH\}\/nvidia-procfs-hook (\S+)$/m.exec(containerfile)?.[1]
  t.equal(copied, '/usr/local/bin/nvidia-procfs-hook')
  t.match(containerfile, `ENTRYPOINT ["${copied}"]`)
  for (const c of all) {
    t.equal(c.command[0], copied, `${c.name} runs the image's executable`)
    t.match(c.image, new RegExp(`/nvidia-procfs-hook:${version.replace(/\./g, '\\.')}$`), `${c.name}: the image of this version`)
  }

  const install = byName('install')
  t.same(install.command.slice(1, 2), ['install'])
  const flags = parseArgs(install.command.slice(2), { string: ['prefix', 'host-root'], boolean: ['cdi', 'hooks-d', 'json'] }, 'install')
  const hostRoot = flags['host-root'] as string
  const bin = posix.join(flags.prefix as string, 'bin')
  const mounted = (c: Container, path: string) => c.volumeMounts.some(m => path === m.mountPath || path.startsWith(`${m.mountPath}/`))
  t.ok(mounted(install, posix.join(hostRoot, bin, 'nvidia-procfs-hook')), 'install writes into a mounted host directory')
  t.ok(mounted(install, posix.join(hostRoot, MANIFEST)), 'and records it on the host, for uninstall')
  for (const m of install.volumeMounts) {
    const v = pod.volumes.find(v => v.name === m.name)
    t.equal(posix.join(hostRoot, v?.hostPath.path as string), m.mountPath, `${m.name}: the host path appears under --host-root where it is on the host`)
  }

  const watch = byName('cdi-patch')
  t.same(watch.command.slice(1, 3), ['cdi', 'patch'])
  const cdi = parseArgs(watch.command.slice(3), { string: ['binary', 'log-file'], boolean: ['watch'] }, 'cdi')
  t.equal(cdi.watch, true, 'keeps watching: k8s-device-plugin rewrites its spec')
  t.equal(cdi.binary, posix.join(bin, 'nvidia-procfs-hook'), 'specs run the binary install put on the node')
  t.equal(cdi.binary, copied, 'the same path in the container, where cdi patch checks it')
  for (const dir of cdi._ as string[]) {
    const m = watch.volumeMounts.find(m => m.mountPath === dir)
    const v = pod.volumes.find(v => v.name === m?.name)
    t.equal(v?.hostPath.path, dir, `${dir} is the node's ${dir}`)
    // /var/run/cdi does not exist until a producer writes: the pod must start anyway, and the watcher follows it.
    t.equal(v?.hostPath.type, 'DirectoryOrCreate', `${dir}: created on the node when absent`)
    // A tmpfs mounted there on the node later must reach the watcher (which sees it by its (dev, ino)); no privilege needed.
    t.equal(m?.mountPropagation, 'HostToContainer', `${dir}: the node's later mounts propagate in`)
  }
  t.same(cdi._, ['/etc/cdi', '/var/run/cdi'])
})
