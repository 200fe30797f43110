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

// hooks.d routes (README "hooks.d"; runtimes.md "podman 4.3 and hooks.d",
// "CRI-O and the NRI hook-injector"). CRI-O and the NRI hook-injector load
// /usr/share/containers/oci/hooks.d with no extension stages: a `precreate`
// file there stops CRI-O. podman's precreate file therefore lives in a
// directory of ours that no engine reads until containers.conf adds it.

/** Where a prefix's podman precreate file goes: `${prefix}/share/nvidia-procfs-hook/hooks.d`. */
export const podmanHooksDirFor = (prefix: string) => `${prefix === '/' ? '' : prefix}/share/${NAME}/hooks.d`

/** The packages' podman precreate directory (prefix /usr); read only once containers.conf names it. */
export const PODMAN_HOOKS_DIR = podmanHooksDirFor('/usr')

/** The precreate file's name, in whichever directory holds it. */
export const PODMAN_HOOKS_FILE_NAME = `${NAME}.json`

/**
 * podman's containers.conf files, in the order containers/common reads them
 * for root (0.50 in podman 4.3 and 0.67 in podman 5.8 alike): each file that
 * sets `[engine] hooks_dir` replaces the list (podman 5 appends when the array
 * ends with `{append=true}`). /usr/share/containers/containers.conf.d is read by neither.
 */
export const CONTAINERS_CONF_FILES = ['/usr/share/containers/containers.conf', '/etc/containers/containers.conf']
export const CONTAINERS_CONF_D = '/etc/containers/containers.conf.d'

/** podman's hooks_dir when no containers.conf sets it (containers/common pkg/config). */
export const PODMAN_DEFAULT_HOOKS_DIRS = ['/usr/share/containers/oci/hooks.d']

/** The drop-in `install --hooks-d` writes: hooks_dir = the effective list plus the precreate directory. */
export const PODMAN_DROP_IN = `${CONTAINERS_CONF_D}/${NAME}.conf`

/**
 * CRI-O's route: a `createContainer` file where CRI-O reads by default
 * (its hooks_dir default, hooks.DefaultDir). CRI-O adds hooks.d hooks before
 * it injects CDI edits, so this entry runs before NVIDIA's. podman reads
 * this directory too; the file's `when` keeps podman from running it.
 */
export const CRIO_HOOKS_FILE = `${HOOKS_D_DIRS[0] as string}/${NAME}-createcontainer.json`

/** containerd's configuration file (`containerd --config`'s default; its `imports` may name more). */
export const CONTAINERD_CONFIG = '/etc/containerd/config.toml'

/** CRI-O's configuration: its hooks_dir is `[crio.runtime] hooks_dir` there. */
export const CRIO_CONF_FILES = ['/etc/crio/crio.conf']
export const CRIO_CONF_D = '/etc/crio/crio.conf.d'

/** Where 0.1.0's packages and `install --hooks-d` put the precreate file: it stops CRI-O, so install removes its own. */
export const LEGACY_PRECREATE_FILE = `${HOOKS_D_DIRS[0] as string}/${NAME}.json`
