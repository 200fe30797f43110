#!/usr/bin/env node
// Flips DIR/NAME between the real directory and a symlink to TARGET as fast
// as it can until it is sent SIGTERM, then puts the real directory back where
// it can. Plays the image process that races the hook between its check and
// its mount (CVE-2024-0132's shape). Prints "ready" once flipping.
// Usage: racer.mjs DIR NAME TARGET
import { mkdirSync, renameSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'

const [dir, name, target] = process.argv.slice(2)
const here = join(dir, name)
const real = join(dir, `.${name}.real`)
const link = join(dir, `.${name}.link`)
mkdirSync(here, { recursive: true })
symlinkSync(target, link)
const tryRename = (a, b) => {
  try {
    renameSync(a, b)
  } catch {
    // The hook may have created or taken the name in a gap: keep going.
  }
}
let stop = false
let flips = 0
process.on('SIGTERM', () => (stop = true))
process.stdout.write('ready\n')
const burst = () => {
  for (let i = 0; i < 200; i++) {
    tryRename(here, real)
    tryRename(link, here)
    tryRename(here, link)
    tryRename(real, here)
    flips++
  }
  if (!stop) setImmediate(burst)
  else {
    tryRename(real, here)
    process.stdout.write(`flips ${flips}\n`)
  }
}
burst()
