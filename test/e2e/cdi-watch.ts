import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'

// The executable as a daemon: k8s-device-plugin rewrites its spec when it
// restarts (a new file renamed over the old), and the watcher puts our entry
// back; SIGTERM (systemd's stop) ends it with exit 0.
const EXE = resolve('dist/nvidia-procfs-hook')
const FRESH = readFileSync(resolve('test/fixtures/cdi/k8s-device-plugin.json'), 'utf8')

t.test('cdi patch --watch re-patches a rewritten spec and stops on SIGTERM', async t => {
  const dir = t.testdir({ 'k8s.device-plugin.nvidia.com-gpu.json': FRESH })
  const spec = join(dir, 'k8s.device-plugin.nvidia.com-gpu.json')
  const child = spawn(EXE, ['cdi', 'patch', '--watch', '--binary', EXE, dir], { stdio: ['ignore', 'pipe', 'pipe'] })
  t.teardown(() => {
    if (child.exitCode === null) child.kill('SIGKILL')
  })
  let out = ''
  let err = ''
  child.stdout.on('data', d => (out += d))
  child.stderr.on('data', d => (err += d))
  const until = async (what: string, cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise(r => setTimeout(r, 25))
    t.ok(cond(), what)
  }
  await until('initial pass, then watching', () => out.includes(`watching ${dir}\n`))
  t.equal(out, `patched ${spec} (1 hooks list)\nwatching ${dir}\n`)
  writeFileSync(join(dir, '.new'), FRESH)
  renameSync(join(dir, '.new'), spec)
  await until('the rewritten spec re-patched', () => out.split('patched ').length === 3)
  t.same(JSON.parse(readFileSync(spec, 'utf8')).containerEdits.hooks[0].path, EXE)
  const exited = new Promise<[number | null, string | null]>(r => child.on('exit', (code, signal) => r([code, signal])))
  child.kill('SIGTERM')
  t.same(await exited, [0, null], 'SIGTERM: exit 0')
  t.match(out, /stopped watching\n$/)
  t.equal(err, '')
})
