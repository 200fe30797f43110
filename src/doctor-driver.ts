import { readText, statHost, type Finding, type Host } from './doctor-finding'

const DIR = '/proc/driver/nvidia'

/** Whether /proc/driver/nvidia exists on the host (a driver is loaded); false too where it cannot be resolved. */
export const driverLoaded = (host: Host): boolean => statHost(host, DIR) !== undefined

/**
 * The loaded driver's version (`580.126.20`), from the `NVRM version` line
 * of /proc/driver/nvidia/version (nvidia.md): the number after the module's
 * name. Undefined when no driver is loaded or the line says none.
 */
export const driverVersion = (host: Host): string | undefined => {
  const ver = readText(host, `${DIR}/version`, 'driver version')
  if (!('text' in ver)) return undefined
  const nvrm = /^NVRM version:.*$/m.exec(ver.text)?.[0]
  return nvrm === undefined ? undefined : /\s(\d+\.\d+(?:\.\d+)?)\s/.exec(`${nvrm} `)?.[1]
}

export const driverCheck = (host: Host): Finding => {
  if (!driverLoaded(host)) {
    return {
      check: 'driver',
      status: 'fail',
      summary: `no NVIDIA driver loaded (${DIR} does not exist); GPU containers cannot start and this hook has nothing to do`,
      fix: 'modprobe nvidia   # or install the NVIDIA driver',
    }
  }
  const ver = readText(host, `${DIR}/version`, 'driver version')
  const params = readText(host, `${DIR}/params`, 'driver params')
  const modify = 'text' in params ? /^ModifyDeviceFiles: *(\S+)/m.exec(params.text)?.[1] : undefined
  const what =
    modify === '1'
      ? " (NVIDIA's disable-device-node-modification hook acts, so it needs /proc/driver/nvidia in the rootfs)"
      : modify === undefined
        ? ''
        : " (NVIDIA's disable-device-node-modification hook does nothing)"
  return {
    check: 'driver',
    status: 'ok',
    summary: `${'text' in ver ? ver.text.split('\n')[0]?.replace(/^NVRM version: */, '').replace(/\s+/g, ' ').trim() : ver.why}; ModifyDeviceFiles: ${
      modify ?? ('text' in params ? 'not set' : params.why)
    }${what}`,
  }
}
