import { execFileSync } from 'node:child_process'
import { mkdirSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'

export const FAKE_DRIVER_LABEL = 'FAKE-nvidia-driver-for-tests'

export const FAKE_PARAMS = [
  'ResmanDebugLevel: 4294967295',
  'RmLogonRC: 1',
  'ModifyDeviceFiles: 1',
  'DeviceFileUID: 0',
  'DeviceFileGID: 0',
  'DeviceFileMode: 438',
  'InitializeSystemMemoryAllocations: 1',
  'UsePageAttributeTable: 4294967295',
  'EnableMSI: 1',
  'RegistryDwords: ""',
  'RmMsg: ""',
  'ExcludedGpus: ""',
  '',
].join('\n')

/**
 * Writes a /proc/driver/nvidia look-alike (layout from nvidia.md) into `dir`,
 * labelled FAKE in its version line so nobody mistakes it for a driver.
 */
export const writeFakeDriverTree = (dir: string, modifyDeviceFiles = 1) => {
  const gpu = join(dir, 'gpus/0000:01:00.0')
  mkdirSync(gpu, { recursive: true })
  mkdirSync(join(dir, 'capabilities/mig'), { recursive: true })
  mkdirSync(join(dir, 'capabilities/gpu0/mig/gi1/ci0'), { recursive: true })
  mkdirSync(join(dir, 'warnings'), { recursive: true })
  mkdirSync(join(dir, 'patches'), { recursive: true })
  writeFileSync(join(dir, 'params'), FAKE_PARAMS.replace('ModifyDeviceFiles: 1', `ModifyDeviceFiles: ${modifyDeviceFiles}`))
  writeFileSync(
    join(dir, 'version'),
    `NVRM version: ${FAKE_DRIVER_LABEL} NVIDIA UNIX Open Kernel Module for x86_64  580.126.20  Release Build  (test)\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n`,
  )
  writeFileSync(join(dir, 'registry'), 'Binary: ""\n')
  writeFileSync(join(dir, 'suspend'), '')
  writeFileSync(join(dir, 'suspend_depth'), 'default\n')
  writeFileSync(join(dir, 'warnings/README'), 'fake\n')
  writeFileSync(join(dir, 'patches/README'), 'fake\n')
  writeFileSync(
    join(gpu, 'information'),
    'Model: \t\t FAKE GPU for tests\nIRQ:   \t\t 0\nGPU UUID: \t GPU-00000000-0000-0000-0000-000000000000\nVideo BIOS: \t ??.??.??.??.??\nBus Type: \t PCIe\nDMA Size: \t 47 bits\nBus Location: \t 0000:01:00.0\nDevice Minor: \t 0\n',
  )
  writeFileSync(join(gpu, 'registry'), 'Binary: ""\n')
  writeFileSync(join(gpu, 'power'), 'Runtime D3 status: Not supported\n')
  const cap = 'DeviceFileMinor: 1\nDeviceFileMode: 256\nDeviceFileModify: 1\n'
  writeFileSync(join(dir, 'capabilities/mig/config'), cap)
  chmodSync(join(dir, 'capabilities/mig/config'), 0o400)
  writeFileSync(join(dir, 'capabilities/mig/monitor'), cap.replace('256', '292').replace('Minor: 1', 'Minor: 2'))
  writeFileSync(join(dir, 'capabilities/gpu0/mig/gi1/ci0/access'), cap.replace('Minor: 1', 'Minor: 3'))
}

/**
 * Mounts a tmpfs over /proc/driver holding the fake tree, so the hook runs
 * with its real default source. Only call inside a private mount namespace.
 */
export const mountFakeDriver = (modifyDeviceFiles = 1) => {
  execFileSync('/usr/bin/mount', ['-t', 'tmpfs', '-o', 'mode=0555,size=1m', FAKE_DRIVER_LABEL, '/proc/driver'])
  writeFakeDriverTree('/proc/driver/nvidia', modifyDeviceFiles)
}

/** Takes the fake driver away again: the no-driver case. */
export const unmountFakeDriver = () => execFileSync('/usr/bin/umount', ['/proc/driver'])
