import t, { type Test } from 'tap'
import { chmodSync, writeFileSync } from 'node:fs'
import { bind, makeRunner, mountApi, type UtilRunner } from '../../src/mount'

// Stand-in tools in a scratch dir: this tests how the runner finds and
// judges a tool, not mount(8) itself (test/system/provide-procfs.ts does).
const tools = (t: Test, scripts: Record<string, string>) => {
  const dir = t.testdir({})
  for (const [name, body] of Object.entries(scripts)) {
    writeFileSync(`${dir}/${name}`, `#!/bin/sh\n${body}\n`)
    chmodSync(`${dir}/${name}`, 0o755)
  }
  return dir
}

t.test('finds the tool in the first dir that has it and returns its stderr', async t => {
  const dir = tools(t, { mount: 'echo "args: $*" >&2; if [ -e /proc/self/fd/3 ]; then echo fd3 >&2; else echo no-fd3 >&2; fi; echo "PATH=$PATH LANG=${LANG-unset}" >&2' })
  const said = makeRunner(['/nonexistent', dir])('mount', ['--bind', 'a', 'b'], 0)
  t.match(said, /^args: --bind a b\n/)
  t.match(said, /PATH=\/usr\/sbin:\/usr\/bin:\/sbin:\/bin LANG=unset/, 'fixed environment')
  t.match(said, /\nfd3\n/, 'fd 3 given')
  t.equal(makeRunner([dir])('mount', []).split('\n')[1], 'no-fd3', 'no fd 3 unless given')
})

t.test('failures become one line naming the tool', async t => {
  const dir = tools(t, {
    mount: 'echo "mount: first" >&2; echo "mount: /x: permission denied." >&2; exit 32',
    umount: 'exit 3',
    nsenter: 'kill -9 $$',
  })
  const run = makeRunner([dir])
  t.throws(() => run('mount', ['--bind', 'a', 'b']), { name: 'HookError', message: 'mount --bind a b failed: mount: /x: permission denied.' })
  t.throws(() => run('umount', ['x']), { message: 'umount x failed: exit 3' })
  t.throws(() => run('nsenter', []), { message: 'nsenter  failed: exit SIGKILL' })
  t.throws(() => makeRunner(['/nonexistent', '/nonexistent2'])('mount', []), { message: 'mount not found in /nonexistent, /nonexistent2 (util-linux)' })
  const noexec = t.testdir({ mount: 'not executable' })
  t.throws(() => makeRunner([noexec])('mount', []), { message: `cannot run ${noexec}/mount: EACCES` })
})

t.test('without node:ffi, the bind is mount(8)\'s and follows the mount API: options on the detached tree (fd-based), a plain bind (classic)', async t => {
  const seen: string[][] = []
  const record: UtilRunner = (tool, args) => (seen.push([tool, ...args]), '')
  t.equal(bind(record, 'fd-based', '/src', 7, '/rootfs/proc/driver/nvidia'), 'fd-based')
  t.equal(bind(record, 'classic', '/src', 7, '/rootfs/proc/driver/nvidia'), 'classic')
  t.same(seen, [
    ['mount', '--no-canonicalize', '--bind', '-o', 'ro,nosuid,nodev,noexec', '/src', '/proc/self/fd/3/.'],
    ['mount', '--no-canonicalize', '--bind', '/src', '/proc/self/fd/3/.'],
  ])
})

t.test('the mount API is read from libmount.so.1: the first found decides; none found is classic', async t => {
  const dir = t.testdir({ a: {}, b: { 'libmount.so.1': 'x\0namespaces\0fd-based-mount\0statx\0' }, c: { 'libmount.so.1': 'x\0namespaces\0debug\0' } })
  t.equal(mountApi([`${dir}/a`, `${dir}/b`, `${dir}/c`]), 'fd-based')
  t.equal(mountApi([`${dir}/c`, `${dir}/b`]), 'classic')
  t.equal(mountApi([`${dir}/a`]), 'classic')
  t.throws(() => mountApi([`${dir}/b/libmount.so.1`]), { name: 'HookError', message: `cannot read ${dir}/b/libmount.so.1/libmount.so.1: ENOTDIR` })
})

/** A minimal ELF64 little-endian file: sections [null, .shstrtab, .rodata], and `outside` after them. */
const elf = (rodata: string, outside = '', bad?: 'names' | 'rodata') => {
  const strtab = Buffer.from('\0.shstrtab\0.rodata\0')
  const ro = Buffer.from(rodata)
  const data = Buffer.concat([strtab, ro, Buffer.from(outside)])
  const shoff = 64 + data.length
  const head = Buffer.alloc(64)
  head.writeUInt32BE(0x7f454c46, 0)
  head[4] = 2 // ELFCLASS64
  head[5] = 1 // little-endian
  head.writeBigUInt64LE(BigInt(shoff), 0x28)
  head.writeUInt16LE(64, 0x3a)
  head.writeUInt16LE(3, 0x3c)
  head.writeUInt16LE(1, 0x3e)
  const table = Buffer.alloc(3 * 64)
  const sh = (i: number, name: number, offset: number, size: number) => {
    table.writeUInt32LE(name, i * 64)
    table.writeBigUInt64LE(BigInt(offset), i * 64 + 0x18)
    table.writeBigUInt64LE(BigInt(size), i * 64 + 0x20)
  }
  sh(1, 1, bad === 'names' ? 1 << 30 : 64, strtab.length)
  sh(2, 11, 64 + strtab.length, bad === 'rodata' ? 1 << 30 : ro.length)
  return Buffer.concat([head, data, table])
}

t.test('the mount API from an ELF libmount: only its .rodata is read', async t => {
  const whole = elf('x\0namespaces\0debug\0', 'fd-based-mount\0')
  const dir = t.testdir({
    fd: { 'libmount.so.1': elf('x\0namespaces\0fd-based-mount\0statx\0') },
    classic: { 'libmount.so.1': whole },
    // Where the section table, or a section, is not in the file: the whole file is searched.
    cut: { 'libmount.so.1': whole.subarray(0, whole.length - 64) },
    names: { 'libmount.so.1': elf('x\0debug\0', 'fd-based-mount\0', 'names') },
    rodata: { 'libmount.so.1': elf('x\0debug\0', 'fd-based-mount\0', 'rodata') },
    // Not ELF at all, or a table entry too short to hold sh_size.
    text: { 'libmount.so.1': `${'x'.repeat(64)}\0fd-based-mount\0` },
  })
  t.equal(mountApi([`${dir}/fd`]), 'fd-based')
  t.equal(mountApi([`${dir}/classic`]), 'classic', 'the name outside .rodata is not a feature')
  for (const whole of ['cut', 'names', 'rodata', 'text']) t.equal(mountApi([`${dir}/${whole}`]), 'fd-based', `${whole}: the whole file`)
  const short = Buffer.from(whole)
  short.writeUInt16LE(0x20, 0x3a)
  writeFileSync(`${dir}/classic/libmount.so.1`, short)
  t.equal(mountApi([`${dir}/classic`]), 'fd-based', 'a section header too short for sh_size: the whole file')
})
