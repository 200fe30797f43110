import t, { type Test } from 'tap'
import { driverLoaded, driverVersion } from '../../src/doctor-driver'
import { makeHost } from '../harness/host-tree'

// The loaded driver's version, as nvproxy's list names them, from the NVRM line (nvidia.md).
const version = (t: Test, text: string | null) =>
  driverVersion({ root: makeHost(t, { 'proc/driver/nvidia/version': text }) })

t.test('the NVRM line of /proc/driver/nvidia/version', async t => {
  t.equal(version(t, 'NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  580.126.20  Release Build  (dvs-builder@U22-I3-AF03-09-1)  Thu Jan  8 06:15:33 UTC 2026\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n'), '580.126.20')
  t.equal(version(t, 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  535.129.03  Thu Oct 19 18:56:32 UTC 2023\n'), '535.129.03', 'the proprietary module')
  t.equal(version(t, 'NVRM version: FAKE-nvidia-driver-for-tests NVIDIA UNIX Open Kernel Module for x86_64  580.126.20  Release Build  (test)\n'), '580.126.20', "the tests' fake driver")
  t.equal(version(t, 'NVRM version: something else\n'), undefined, 'no version in it')
  t.equal(version(t, 'GCC version:  gcc version 12.2.0\n'), undefined, 'no NVRM line')
  t.equal(version(t, null), undefined, 'no driver')
})

t.test('a /proc/driver/nvidia that cannot be resolved counts as none loaded, without a crash', async t => {
  t.equal(driverLoaded({ root: makeHost(t, { proc: { link: '/proc' } }) }), false, 'a link loop')
  t.equal(driverLoaded({ root: makeHost(t, { 'proc/driver': 'a file' }) }), false, 'a file where a directory is')
})
