// Bundles src/ into dist/cli.js: one file, no runtime dependencies, for
// `npx nvidia-procfs-hook` and as the payload of the single executable.
import { build } from 'esbuild'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'

mkdirSync('dist', { recursive: true })
await build({
  entryPoints: ['src/main.ts'],
  outfile: 'dist/cli.js',
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  banner: { js: '#!/usr/bin/env node' },
  // debug probes for supports-color; colours are not worth a dependency here.
  alias: { 'supports-color': './build/empty.cjs' },
  legalComments: 'none',
  logLevel: 'warning',
})
chmodSync('dist/cli.js', 0o755)
// The executable's path; a later step replaces this launcher with a single executable.
writeFileSync('dist/nvidia-procfs-hook', '#!/bin/sh\nexec node "$(dirname "$0")/cli.js" "$@"\n', { mode: 0o755 })
