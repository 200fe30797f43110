import { version } from '../package.json'
import { at, isExecutableFile, readText, versionOf, type Finding, type Host } from './doctor-finding'
import { BINARY_CANDIDATES, MANIFEST } from './host-layout'
import { DEFAULT_BINARY, NAME } from './registration'

/** Binaries of ours that registrations or `install` point at, in the order to prefer. */
export const binaryCandidates = (host: Host): string[] => {
  const manifest = readText(host, MANIFEST, 'install manifest')
  let recorded: string[] = []
  if ('text' in manifest) {
    try {
      const files: unknown = (JSON.parse(manifest.text) as { files?: unknown }).files
      recorded = Array.isArray(files) ? files.filter((f): f is string => typeof f === 'string' && f.endsWith(`/bin/${NAME}`)) : []
    } catch {
      // A manifest we cannot read names nothing; uninstall reports it.
    }
  }
  return [...new Set([...recorded, ...BINARY_CANDIDATES])]
}

export interface BinaryReport {
  finding: Finding
  /** The installed binary's host path; the default when none is installed. */
  binary: string
}

export const binaryCheck = (host: Host): BinaryReport => {
  const binary = binaryCandidates(host).find(p => isExecutableFile(host, p))
  if (binary === undefined) {
    return {
      binary: DEFAULT_BINARY,
      finding: {
        check: 'binary',
        status: 'fail',
        summary: `${NAME} is not installed (looked for ${BINARY_CANDIDATES.join(', ')})`,
        fix: `apt-get install ./${NAME}_${version}_amd64.deb   # or: ${NAME} install`,
      },
    }
  }
  const v = versionOf(at(host, binary))
  if ('why' in v) {
    return { binary, finding: { check: 'binary', status: 'fail', summary: `${binary} --version failed: ${v.why}`, fix: `${NAME} install` } }
  }
  const same = v.line.startsWith(`${NAME} ${version} `)
  return {
    binary,
    finding: {
      check: 'binary',
      status: same ? 'ok' : 'warn',
      summary: `${binary}: ${v.line}${same ? '' : `; this doctor is ${version}`}`,
      ...(same ? {} : { fix: `${NAME} install   # or install the ${version} package` }),
    },
  }
}
