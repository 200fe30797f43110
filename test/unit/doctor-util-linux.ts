// The util-linux check as the executable (node:ffi) makes it: the mount API
// from the host's libmount, nsenter the one tool required. The npm package's
// case (Node without node:ffi, all four tools) is test/unit/doctor.ts's.
import t, { type Test } from 'tap'
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { utilLinuxCheck } from '../../src/doctor-util-linux'
import { LIBMOUNT_DIRS } from '../../src/mount'

const VERSION = (features: string) => `#!/bin/sh\necho 'mount from util-linux 2.42.4 (libmount 2.42.4: ${features})'\n`

/** A host root with the files given (content, or an executable script when it starts with #!). */
const host = (t: Test, files: Record<string, string>) => {
  const root = t.testdir({})
  for (const [path, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true })
    writeFileSync(join(root, path), content)
    if (content.startsWith('#!')) chmodSync(join(root, path), 0o755)
  }
  return { root }
}
// Not ELF: mountApi then searches the whole file for libmount's feature name.
const libmount = (features: string) => ({ [`${LIBMOUNT_DIRS[0]}/libmount.so.1`.slice(1)]: `libmount\0${features}\0` })

t.test('in-process: the API is libmount\'s, and only nsenter is required', async t => {
  const fd = host(t, { 'usr/bin/nsenter': '#!/bin/sh\n', 'usr/bin/mount': VERSION('fd-based-mount'), ...libmount('fd-based-mount') })
  t.same(utilLinuxCheck(fd, true), {
    check: 'util-linux',
    status: 'ok',
    summary: 'util-linux 2.42.4, fd-based mount API: the bind is attached read-only, no remount, made by the hook itself (node:ffi); it runs nsenter only (/usr/bin/mount, /usr/bin/nsenter)',
  })
  // No mount(8) at all: the release is unknown, the API still libmount's.
  const classic = host(t, { 'usr/bin/nsenter': '#!/bin/sh\n', ...libmount('namespaces') })
  t.same(utilLinuxCheck(classic, true), {
    check: 'util-linux',
    status: 'ok',
    summary: 'util-linux, classic mount(2): bind, then remount read-only through a fresh fd, made by the hook itself (node:ffi); it runs nsenter only (/usr/bin/nsenter)',
  })
})

t.test('in-process: no nsenter fails; an unreadable libmount warns', async t => {
  t.same(utilLinuxCheck(host(t, { 'usr/bin/mount': VERSION('fd-based-mount') }), true), {
    check: 'util-linux',
    status: 'fail',
    summary: "missing from /usr/bin and /bin: nsenter; the hook runs nsenter to act in a container's mount namespace (prestart, createRuntime)",
    fix: 'apt-get install mount util-linux   # dnf install util-linux',
  })
  const unreadable = host(t, { 'usr/bin/nsenter': '#!/bin/sh\n' })
  mkdirSync(join(unreadable.root, LIBMOUNT_DIRS[0] as string, 'libmount.so.1'), { recursive: true })
  t.match(utilLinuxCheck(unreadable, true), { status: 'warn', summary: /^cannot tell which mount API the host's libmount uses: .*EISDIR/ })
})
