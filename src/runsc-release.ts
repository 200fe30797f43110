// What a runsc build does with CDI createContainer hooks: facts from gVisor's
// source (runtimes.md "gVisor's gofer, precisely" and "gVisor's real runsc").

/** Release dates: from this one CDI createContainer hooks run in the gofer. */
export const RUNS_HOOKS_FROM = 20260520
/** From this one runsc skips NVIDIA's hook when its path ends in /nvidia-cdi-hook. */
export const SKIPS_CDI_HOOK_FROM = 20260601

/**
 * `runs-but-nvidia-cdi-hook`: runs them, but skips NVIDIA's
 * disable-device-node-modification in the `…/nvidia-cdi-hook` form;
 * `unknown`: cannot tell (treated as `runs`, the case that needs our entry).
 */
export type RunscHooks = 'skips' | 'runs' | 'runs-but-nvidia-cdi-hook' | 'unknown'

/**
 * Text that only a runsc with that code holds: the gofer's error when a
 * createContainer hook fails (runsc/cmd/sandboxsetup, release-20260520.0),
 * and the log line of the skip rule (runsc/specutils/hooks.go,
 * release-20260601.0). Found in the binary itself, since go-branch builds
 * print the tag before them (`go-266ba6c8-release-20260511.0-45-g…` holds
 * release-20260520.0's code).
 */
export const RUNS_HOOKS_TEXT = 'error executing CreateContainer hooks'
export const SKIPS_CDI_HOOK_TEXT = "Skipping nvidia-cdi-hook's disable-device-node-modification"

/** The release date in a `runsc --version` line (`release-20260520.0`, Debian's `0.0~20221219.0`), if it has one. */
export const releaseDate = (versionLine: string): number | undefined => {
  const date = /(?:^|\D)(20\d{6})(?!\d)/.exec(versionLine)?.[1]
  return date === undefined ? undefined : Number(date)
}

/** What the date in a version line says about CDI createContainer hooks. */
export const runscHooks = (versionLine: string): RunscHooks => {
  const n = releaseDate(versionLine)
  if (n === undefined) return 'unknown'
  return n < RUNS_HOOKS_FROM ? 'skips' : n < SKIPS_CDI_HOOK_FROM ? 'runs' : 'runs-but-nvidia-cdi-hook'
}

/**
 * What a runsc binary's own code says (the texts above in `binary`), with
 * its version line as a fallback: the code decides when it holds the hook
 * runner; a binary without it whose version claims a release that has it
 * is `unknown` (a build we cannot read), never `skips`.
 */
export const hooksFromBinary = (binary: Buffer, versionLine: string | undefined): RunscHooks => {
  if (binary.includes(RUNS_HOOKS_TEXT)) return binary.includes(SKIPS_CDI_HOOK_TEXT) ? 'runs-but-nvidia-cdi-hook' : 'runs'
  const byVersion = versionLine === undefined ? 'unknown' : runscHooks(versionLine)
  return byVersion === 'skips' ? 'skips' : 'unknown'
}

/** One phrase per answer, for doctor's lines. */
export const RUNSC_SAYS: Record<RunscHooks, string> = {
  skips: `skips CDI createContainer hooks (builds before ${RUNS_HOOKS_FROM}): NVIDIA's hooks do not run under it, so neither does this one`,
  runs: "runs CDI createContainer hooks in the gofer: NVIDIA's disable-device-node-modification fails there unless this hook runs first",
  'runs-but-nvidia-cdi-hook':
    "runs CDI createContainer hooks in the gofer and skips NVIDIA's when its path ends in /nvidia-cdi-hook; the nvidia-ctk form still needs this hook first",
  unknown: `cannot tell whether it runs CDI createContainer hooks in the gofer (releases from ${RUNS_HOOKS_FROM} do); assuming it does`,
}
