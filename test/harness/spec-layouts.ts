/**
 * CDI specs rendered the way their producers lay them out, so that tests can
 * check that patching keeps every layout byte for byte. The renderer is our
 * own (not `yaml`'s stringify): it has to reproduce producer quirks such as
 * yaml.v3's list indentation, which no library option gives.
 */
import { parse } from 'yaml'

export type Json = null | boolean | number | string | Json[] | JsonMap
export interface JsonMap {
  [key: string]: Json
}

export interface Layout {
  format: 'json' | 'yaml'
  /** JSON: 0 = one line; YAML: 2 or 4 spaces (YAML cannot indent with tabs). */
  indent: 0 | 2 | 4 | 'tab'
  /** One-line JSON with Python's json.dumps separators `", "` and `": "`. */
  python: boolean
  /** YAML: list items indented under their key (yaml.v3), or at its column (sigs.k8s.io/yaml). */
  indentSeq: boolean
  crlf: boolean
  finalNewline: boolean
  /** YAML: a leading `---`. */
  docStart: boolean
  /** YAML: each hook as one flow map, `- {hookName: ..., args: [...]}`. */
  flowHooks: boolean
  /** YAML: a header, a full-line comment before each `hooks` key and its first item, trailing ones. */
  comments: boolean
}

export const layoutName = (l: Layout): string =>
  [
    l.format,
    l.format === 'json' ? (l.python ? 'python' : l.indent === 0 ? 'compact' : `indent-${l.indent}`) : `${l.indent}space`,
    l.format === 'yaml' ? (l.indentSeq ? 'indented' : 'indentless') : '',
    l.format === 'yaml' && l.flowHooks ? 'flow-hooks' : '',
    l.format === 'yaml' && l.comments ? 'comments' : '',
    l.format === 'yaml' && l.docStart ? 'doc-start' : '',
    l.crlf ? 'crlf' : 'lf',
    l.finalNewline ? '' : 'no-eol',
  ]
    .filter(Boolean)
    .join('-')

const isMap = (v: Json): v is JsonMap => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Python's json.dumps(v): one line, `", "` and `": "`. */
const pythonJson = (v: Json): string => {
  if (Array.isArray(v)) return `[${v.map(pythonJson).join(', ')}]`
  if (isMap(v)) return `{${Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pythonJson(x)}`).join(', ')}}`
  return JSON.stringify(v)
}

/**
 * A string goes out plain when YAML reads it back as the same string
 * (so "0", "true", "a:" get quoted); in flow context `,` and `:` would end
 * or split it, so those are quoted too. Quoted = JSON's double quotes.
 */
const scalar = (v: Json, flow: boolean): string => {
  if (typeof v !== 'string') return JSON.stringify(v)
  const plain = /^[A-Za-z0-9_./=+-][A-Za-z0-9_./=+:,-]*$/.test(v) && !(flow && /[,:]/.test(v)) && parse(v) === v
  return plain ? v : JSON.stringify(v)
}

const flowYaml = (v: Json): string => {
  if (Array.isArray(v)) return `[${v.map(flowYaml).join(', ')}]`
  if (isMap(v)) return `{${Object.entries(v).map(([k, x]) => `${k}: ${flowYaml(x)}`).join(', ')}}`
  return scalar(v, true)
}

const DDNM = 'disable-device-node-modification'
const mentionsDdnm = (v: Json) => JSON.stringify(v).includes(`"${DDNM}"`)

const yamlLines = (spec: Json, l: Layout): string[] => {
  const unit = l.indent === 4 ? 4 : 2
  // yaml.v3's quirk: the nested collections of a map that is a list item
  // indent from the dash, not from the map's keys (works for 4 only).
  const v3 = unit === 4 && l.indentSeq
  const pad = (n: number) => ' '.repeat(n)

  // A block map with keys at `col`; its nested collections indent from `base`.
  const map = (m: JsonMap, col: number, base: number): string[] => {
    const out: string[] = []
    for (const [k, v] of Object.entries(m)) {
      if (l.comments && k === 'hooks') out.push(`${pad(col)}# hooks run in the order listed`)
      if (Array.isArray(v) && v.length > 0) {
        out.push(`${pad(col)}${k}:`, ...seq(v, l.indentSeq ? base + unit : col, k === 'hooks'))
      } else if (isMap(v) && Object.keys(v).length > 0) {
        out.push(`${pad(col)}${k}:`, ...map(v, base + unit, base + unit))
      } else {
        const note = l.comments && k === 'cdiVersion' ? '   # the minimum these edits need' : ''
        out.push(`${pad(col)}${k}: ${Array.isArray(v) || isMap(v) ? flowYaml(v) : scalar(v, false)}${note}`)
      }
    }
    return out
  }

  const seq = (items: Json[], dash: number, hooks: boolean): string[] => {
    const out: string[] = []
    if (l.comments && hooks) out.push(`${pad(dash)}# as the producer listed them`)
    for (const item of items) {
      if (isMap(item) && Object.keys(item).length > 0 && !(hooks && l.flowHooks)) {
        const lines = map(item, dash + 2, v3 ? dash : dash + 2)
        // The first key shares the dash's line (comment lines stay above it).
        const first = lines.findIndex(s => !s.trimStart().startsWith('#'))
        lines[first] = `${pad(dash)}- ${(lines[first] ?? '').slice(dash + 2)}`
        out.push(...lines)
      } else {
        const text = Array.isArray(item) || isMap(item) ? flowYaml(item) : scalar(item, false)
        const note = item === DDNM || (typeof item !== 'string' && mentionsDdnm(item))
        out.push(`${pad(dash)}- ${text}${l.comments && note ? '  # needs /proc/driver/nvidia' : ''}`)
      }
    }
    return out
  }

  if (!isMap(spec)) throw new Error('a spec is a mapping')
  return [...(l.docStart ? ['---'] : []), ...(l.comments ? ['# CDI spec for NVIDIA GPUs (spec-layouts.ts)'] : []), ...map(spec, 0, 0)]
}

/** The text a producer with layout `l` writes for `spec`. */
export const render = (spec: Json, l: Layout): string => {
  let lines: string[]
  if (l.format === 'yaml') lines = yamlLines(spec, l)
  else if (l.python) lines = [pythonJson(spec)]
  else if (l.indent === 0) lines = [JSON.stringify(spec)]
  // Go's json.MarshalIndent and JSON.stringify agree on layout.
  else lines = JSON.stringify(spec, null, l.indent === 'tab' ? '\t' : l.indent).split('\n')
  const eol = l.crlf ? '\r\n' : '\n'
  return lines.join(eol) + (l.finalNewline ? eol : '')
}

const plain: Layout = {
  format: 'json',
  indent: 0,
  python: false,
  indentSeq: false,
  crlf: false,
  finalNewline: true,
  docStart: false,
  flowHooks: false,
  comments: false,
}

const json = (o: Partial<Layout>): Layout => ({ ...plain, ...o })

/**
 * JSON as its producers write it (k8s-device-plugin: json.Marshal, no
 * newline; Go's MarshalIndent; Python), then every YAML combination of
 * indent × list style × flow hooks × comments, with line endings, final
 * newline and `---` varied across them.
 */
export const LAYOUTS: Layout[] = [
  json({ indent: 0, finalNewline: false }),
  json({ indent: 0 }),
  json({ indent: 0, crlf: true }),
  json({ python: true }),
  json({ python: true, finalNewline: false }),
  json({ indent: 'tab', finalNewline: false }),
  json({ indent: 'tab' }),
  json({ indent: 2 }),
  json({ indent: 2, crlf: true }),
  json({ indent: 2, finalNewline: false }),
  json({ indent: 4 }),
  json({ indent: 4, crlf: true, finalNewline: false }),
  ...[2, 4].flatMap(indent =>
    [true, false].flatMap(indentSeq =>
      [false, true].flatMap(flowHooks => [false, true].map(comments => ({ indent: indent as 2 | 4, indentSeq, flowHooks, comments }))),
    ),
  ).map(
    (o, i): Layout => ({
      ...plain,
      ...o,
      format: 'yaml',
      // Spread so that none of these follows one of the four axes above.
      docStart: (i ^ (i >> 1) ^ (i >> 2) ^ (i >> 3)) % 2 === 0,
      crlf: i % 3 === 0 && i > 0,
      finalNewline: i % 5 !== 4,
    }),
  ),
]

const hook = (path: string, ...args: string[]): JsonMap => ({ hookName: 'createContainer', path, args, env: ['NVIDIA_CTK_DEBUG=false'] })
const cdiHook = (path: string) => (...args: string[]) => hook(path, 'nvidia-cdi-hook', ...args)
const ctkHook = (...args: string[]) => hook('/usr/bin/nvidia-ctk', 'nvidia-ctk', 'hook', ...args)
const lib = (name: string) => ({
  hostPath: `/usr/lib/x86_64-linux-gnu/${name}`,
  containerPath: `/usr/lib/x86_64-linux-gnu/${name}`,
  options: ['ro', 'nosuid', 'nodev', 'rbind', 'rprivate'],
})
const node = (path: string, major: number, minor: number) => ({ path, hostPath: path, major, minor, fileMode: 438, permissions: 'rwm' })

/** A spec object to render in every layout. */
export interface BaseSpec {
  name: string
  spec: Json
}

const toolkit = cdiHook('/usr/bin/nvidia-cdi-hook')
const operator = cdiHook('/usr/local/nvidia/toolkit/nvidia-cdi-hook')
const drm = (h: typeof toolkit, card: number, bus: string) =>
  h('create-symlinks', '--link', `../card${card}::/dev/dri/by-path/pci-${bus}-card`, '--link', `../renderD${127 + card}::/dev/dri/by-path/pci-${bus}-render`)

export const BASE_SPECS: BaseSpec[] = [
  {
    // nvidia-ctk cdi generate (toolkit 1.18+): all five spec-level hooks, DRM hooks per device.
    name: 'ctk-generate',
    spec: {
      cdiVersion: '0.5.0',
      kind: 'nvidia.com/gpu',
      devices: [
        { name: '0', containerEdits: { deviceNodes: [node('/dev/nvidia0', 195, 0), node('/dev/dri/card1', 226, 1)], hooks: [drm(toolkit, 1, '0000:01:00.0')] } },
        { name: 'all', containerEdits: { deviceNodes: [node('/dev/nvidia0', 195, 0), node('/dev/dri/card1', 226, 1)], hooks: [drm(toolkit, 1, '0000:01:00.0')] } },
      ],
      containerEdits: {
        env: ['NVIDIA_VISIBLE_DEVICES=void'],
        deviceNodes: [node('/dev/nvidiactl', 195, 255), node('/dev/nvidia-uvm', 508, 0)],
        hooks: [
          toolkit('create-symlinks', '--link', 'libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so'),
          toolkit('enable-cuda-compat', '--host-driver-version=580.126.20'),
          toolkit('update-ldcache', '--folder', '/usr/lib/x86_64-linux-gnu'),
          toolkit('disable-device-node-modification'),
          toolkit('update-application-profile'),
        ],
        mounts: [lib('libcuda.so.580.126.20'), lib('libnvidia-ml.so.580.126.20')],
      },
    },
  },
  {
    // k8s-device-plugin: the nvidia-ctk form, no device-level hooks.
    name: 'device-plugin',
    spec: {
      cdiVersion: '0.5.0',
      kind: 'k8s.device-plugin.nvidia.com/gpu',
      devices: [{ name: 'GPU-5d4d3bb2-6b3c-7f1a-c2a0-1f0e9a4c8b7d', containerEdits: { deviceNodes: [{ path: '/dev/nvidia0', hostPath: '/dev/nvidia0' }] } }],
      containerEdits: {
        env: ['NVIDIA_VISIBLE_DEVICES=void'],
        hooks: [ctkHook('create-symlinks', '--link', 'libcuda.so.1::/usr/lib64/libcuda.so'), ctkHook('update-ldcache', '--folder', '/usr/lib64'), ctkHook('disable-device-node-modification')],
        mounts: [lib('libcuda.so.570.86.15')],
      },
    },
  },
  {
    // The hook only in device lists (GPU operator paths), one behind a site hook: two lists to patch.
    name: 'device-level-only',
    spec: {
      cdiVersion: '0.6.0',
      kind: 'nvidia.com/gpu',
      devices: [
        { name: '0', containerEdits: { hooks: [drm(operator, 1, '0000:17:00.0'), operator('disable-device-node-modification')] } },
        {
          name: '1',
          annotations: { 'example.com/site': 'audit' },
          containerEdits: {
            hooks: [hook('/usr/local/bin/site-audit-hook', 'site-audit-hook', '--gpu=1'), drm(operator, 2, '0000:65:00.0'), operator('disable-device-node-modification')],
          },
        },
        { name: '2', containerEdits: { deviceNodes: [node('/dev/nvidia2', 195, 2)] } },
      ],
      containerEdits: {
        hooks: [operator('create-symlinks', '--link', 'libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so'), operator('update-ldcache', '--folder', '/usr/lib/x86_64-linux-gnu')],
      },
    },
  },
  {
    // Management mode: NVIDIA hooks, none of them disable-device-node-modification.
    name: 'management-mode',
    spec: {
      cdiVersion: '0.5.0',
      kind: 'management.nvidia.com/gpu',
      devices: [{ name: 'all', containerEdits: { deviceNodes: [node('/dev/nvidia0', 195, 0), node('/dev/nvidiactl', 195, 255)] } }],
      containerEdits: {
        hooks: [toolkit('create-symlinks', '--link', 'libcuda.so.1::/usr/lib/x86_64-linux-gnu/libcuda.so'), toolkit('update-ldcache', '--folder', '/usr/lib/x86_64-linux-gnu')],
      },
    },
  },
]
