import { DEFAULT_BINARY, NAME } from './registration'

// The host's layout, as host paths (resolve them under --host-root with
// host-root.ts's hostPath): defined once, read by doctor and install alike.

/** Where CDI looks for specs (CDI SPEC.md), in its order. */
export const DEFAULT_SPEC_DIRS = ['/etc/cdi', '/var/run/cdi']

/** Where podman and CRI-O read hooks.d files (runtimes.md), in podman's order. */
export const HOOKS_D_DIRS = ['/usr/share/containers/oci/hooks.d', '/etc/containers/oci/hooks.d']

/** Where `install` records what it wrote, so that `uninstall` can undo exactly that. */
export const MANIFEST = `/var/lib/${NAME}/install.json`

/** Where packages and `install` put the binary. */
export const BINARY_CANDIDATES = [DEFAULT_BINARY, `/usr/local/bin/${NAME}`]

/** The package's watcher unit, and NVIDIA's refresh unit our drop-in extends. */
export const WATCH_UNIT = `${NAME}-cdi-watch.service`
export const REFRESH_UNIT = 'nvidia-cdi-refresh.service'
