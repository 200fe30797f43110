import type { Finding } from './doctor-finding'

/** A runsc that an engine is configured to run. */
export interface RunscUse {
  /** `containerd`, `podman`, `CRI-O`, or `PATH` (a runsc no engine names). */
  engine: string
  /** The runtime handler or runtime name. */
  name: string
  /** As configured: a path, or a name looked up on PATH. */
  wanted: string
  /** Its host path, when it exists. */
  binary?: string
  /** runsc flags the engine passes (`--name=value`, from the shim's `[runsc_config]`), by name. */
  flags: Record<string, string>
  /** The configuration file that says so (for fixes), if any. */
  source?: string
  /** The file holding `flags`, when they come from one (the shim's runsc.toml). */
  flagsFile?: string
  /**
   * Whether the engine's configuration asks for it (a containerd handler, a
   * CRI-O runtime, podman's `runtime` or a containers.conf runtimes entry);
   * false for one it would only find (podman's built-in list, PATH): a
   * verdict there is a warning, not a failure of the node.
   */
  configured: boolean
}

/** What doctor learns from one engine's effective configuration. */
export interface EngineView {
  engine: string
  /** Whether the engine is on the host (its binary, or its configuration). */
  present: boolean
  /** The hooks.d directories it loads, in its order; undefined for an engine without hooks.d. */
  hooksDirs?: string[]
  /** The extension stages its hooks.d loader accepts besides the OCI ones (podman: precreate). */
  extensionStages: string[]
  runscs: RunscUse[]
  /** Files it would refuse, said once each. */
  problems: Finding[]
}

/** A finding for a configuration file an engine cannot read. */
export const configProblem = (engine: string, why: string, file: string): Finding => ({
  check: 'config',
  status: 'fail',
  summary: `${why}: ${engine} refuses to start with it, and doctor cannot tell what it runs`,
  fix: `fix or remove ${file}`,
})
