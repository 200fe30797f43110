// The README's first line ends in `npm run demo`: it must keep exiting 0,
// with the failure and the fix it shows (demo/demo.ts, bundled as npm run demo does).
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

t.setTimeout(120_000)

t.test('the demo shows the gVisor failure, then the fix, and exits 0', async t => {
  const dir = mkdtempSync(join(tmpdir(), 'nph-demo-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const out = join(dir, 'demo.js')
  const built = spawnSync('node_modules/.bin/esbuild', ['demo/demo.ts', '--bundle', '--platform=node', '--log-level=warning', `--outfile=${out}`], { encoding: 'utf8' })
  t.equal(built.status, 0, built.stderr)
  const run = spawnSync(process.execPath, [out], { encoding: 'utf8', timeout: 100_000 })
  t.equal(run.status, 0, run.stderr)
  t.match(run.stdout, /-> gofer exit 128: the pod would never start\./)
  t.match(run.stdout, /-> gofer exit 0\./)
  t.match(run.stdout, /ModifyDeviceFiles: 0/)
  t.match(run.stdout, /0 mounts left under the bundle/)
})
