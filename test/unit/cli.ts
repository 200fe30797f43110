import t from 'tap'
import { closeSync, openSync } from 'node:fs'
import { main, processIO, selfCommand, USAGE, versionText } from '../../src/cli'
import type { HookIO } from '../../src/hook'
import { version } from '../../package.json'

const io = (over: Partial<HookIO> = {}) => {
  const out: string[] = []
  const err: string[] = []
  const hookIO: HookIO = {
    ...processIO(),
    isTTY: () => true,
    out: l => out.push(l),
    err: l => err.push(l),
    ...over,
  }
  return { hookIO, out, err }
}

t.test('--help and --version', async t => {
  for (const flag of ['--help', '-h', 'help']) {
    const { hookIO, out } = io()
    t.equal(main([flag], hookIO), 0)
    t.same(out, [USAGE])
  }
  t.match(USAGE, /nvidia-procfs-hook unmount --rootfs DIR/)
  t.match(USAGE, /--dry-run/)
  const { hookIO, out } = io()
  t.equal(main(['--version'], hookIO), 0)
  t.same(out, [versionText()])
  t.equal(versionText(), `nvidia-procfs-hook ${version} (node ${process.version})`)
})

t.test('the hook is the default command', async t => {
  const { hookIO, err } = io()
  t.equal(main([], hookIO), 2, 'TTY on stdin and no target: usage, never a hang')
  t.match(err, [/^nvidia-procfs-hook: error: hook: expected the OCI state on stdin/])
  const second = io()
  t.equal(main(['--stage', 'nope'], second.hookIO), 2)
  t.match(second.err, [/--stage must be one of prestart, createRuntime, createContainer/])
  const third = io()
  t.equal(main(['hook', '--help'], third.hookIO), 0)
  t.match(third.out, [/^Usage: nvidia-procfs-hook \[hook\]/])
})

t.test('unknown commands and unmount dispatch', async t => {
  const { hookIO, err } = io()
  t.equal(main(['mount'], hookIO), 2)
  t.same(err, ['nvidia-procfs-hook: error: unknown command "mount"; see --help'])
  const un = io()
  t.equal(main(['unmount'], un.hookIO), 2)
  t.same(un.err, ['nvidia-procfs-hook: error: unmount: --rootfs DIR is required'])
})

t.test('a bug still ends in one line and exit 1', async t => {
  const boom = Object.assign(new Error('boom'), { code: 'EBOOM' })
  const { hookIO, err } = io({ isTTY: () => { throw boom } })
  t.equal(main([], hookIO), 1)
  t.same(err, ['nvidia-procfs-hook: internal error: EBOOM: boom'])
  const plain = io({ isTTY: () => { throw new Error('plain') } })
  t.equal(main([], plain.hookIO), 1)
  t.same(plain.err, ['nvidia-procfs-hook: internal error: plain'])
  const odd = io({ isTTY: () => { throw 'a string' } })
  t.equal(main([], odd.hookIO), 1)
  t.same(odd.err, ['nvidia-procfs-hook: internal error: a string'])
})

t.test('processIO writes whole lines to the real streams', async t => {
  const p = processIO()
  t.equal(p.stdin, 0)
  t.same(p.self, [process.execPath, process.argv[1]], 'not a single executable: node + script')
  t.same(selfCommand(true, '/usr/bin/nvidia-procfs-hook', '/usr/bin/nvidia-procfs-hook'), ['/usr/bin/nvidia-procfs-hook'])
  t.same(selfCommand(false, '/usr/bin/node', undefined), ['/usr/bin/node'], 'node -e')
  const written: string[] = []
  const restore = [process.stdout.write, process.stderr.write]
  process.stdout.write = ((s: string) => (written.push(s), true)) as typeof process.stdout.write
  process.stderr.write = ((s: string) => (written.push(s), true)) as typeof process.stderr.write
  try {
    p.out('a')
    p.out('b\n')
    p.err('c')
  } finally {
    ;[process.stdout.write, process.stderr.write] = restore as [typeof process.stdout.write, typeof process.stderr.write]
  }
  t.same(written, ['a\n', 'b\n', 'c\n'])
  t.equal(typeof p.isTTY(0), 'boolean')
  // A file is not even a character device; /dev/null is one, but no terminal.
  for (const path of [__filename, '/dev/null']) {
    const fd = openSync(path, 'r')
    t.equal(p.isTTY(fd), false, path)
    closeSync(fd)
  }
})
