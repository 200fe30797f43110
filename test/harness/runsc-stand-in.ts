import { releaseDate, RUNS_HOOKS_FROM, RUNS_HOOKS_TEXT, SKIPS_CDI_HOOK_FROM, SKIPS_CDI_HOOK_TEXT } from '../../src/runsc-release'

export interface StandInOptions {
  /** What `runsc nvproxy list-supported-drivers` prints, one a line (none: it prints nothing). */
  drivers?: string[]
  /** Its top-level flags, as `runsc flags` lists them on stderr; without `nvproxy`, `nvproxy …` fails as in a build without it. */
  flags?: string[]
  /** `--version` fails (exit 2, as a runsc with another flag parser). */
  noVersion?: boolean
}

/**
 * A stand-in runsc (a shell script) for host layouts; the real ones run in
 * test/unit/doctor-runsc.ts and test/system/doctor-runsc.ts. It answers
 * --version, `flags` and `nvproxy list-supported-drivers`, and holds the
 * texts that its release's code holds (runsc-release.ts), as the real
 * binary does: 20260520 on, the gofer's hook error; 20260601 on, the skip rule's log line.
 */
export const runscStandIn = (version: string, { drivers = ['580.126.20', '590.48.01'], flags = ['nvproxy', 'nvproxy-driver-version'], noVersion = false }: StandInOptions = {}) => {
  const date = releaseDate(version) ?? 0
  const code = [date >= RUNS_HOOKS_FROM ? RUNS_HOOKS_TEXT : '', date >= SKIPS_CDI_HOOK_FROM ? SKIPS_CDI_HOOK_TEXT : ''].filter(Boolean).map(c => `# ${c}\n`).join('')
  const nvproxy = flags.includes('nvproxy') ? `printf '${drivers.map(d => `${d}\\n`).join('')}'` : `echo 'Usage: runsc <flags> <subcommand> <subcommand args>' >&2; exit 128`
  return [
    '#!/bin/sh',
    `${code}case "$1" in`,
    noVersion ? `--version) echo 'flag provided but not defined: -version' >&2; exit 2 ;;` : `--version) printf 'runsc version ${version}\\nspec: 1.1.0-rc.1\\n' ;;`,
    `flags) printf '${flags.map(f => `  -${f}\\n`).join('')}' >&2 ;;`,
    `nvproxy) ${nvproxy} ;;`,
    '*) exit 64 ;;',
    'esac',
    '',
  ].join('\n')
}
