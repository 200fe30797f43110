import { execFileSync, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * Podman (Debian 12's 4.3, or sid's 5.8 in the sid root) with all its state under `dir` (runtimes.md):
 * cgroupfs, file events, vfs storage, no network, no image (`--rootfs`).
 */
export const podman = (dir: string) => {
  mkdirSync(dir, { recursive: true })
  const conf = join(dir, 'containers.conf')
  writeFileSync(
    conf,
    [
      '[containers]',
      'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]',
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      '',
    ].join('\n'),
  )
  const global = ['--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--tmpdir', join(dir, 'tmp'), '--storage-driver', 'vfs']
  // podman 5 warns on every run under cgroup v1 (this machine's layout).
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', CONTAINERS_CONF: conf, HOME: dir, PODMAN_IGNORE_CGROUPSV1_WARNING: '1' }
  return {
    /**
     * `podman run --rm` of `argv` in the busybox `rootfs`, asking for CDI device `device`;
     * `runtime` a name or a path; `runtimeFlags` go to it (`--runtime-flag`); `flags` go before `--rootfs`.
     */
    run: (opts: { runtime: string; runtimeFlags?: string[]; hooksDir: string; device: string; rootfs: string; argv: string[]; flags?: string[] }) =>
      spawnSync(
        '/usr/bin/podman',
        [...global, '--runtime', opts.runtime, ...(opts.runtimeFlags ?? []).flatMap(f => ['--runtime-flag', f]), '--hooks-dir', opts.hooksDir, 'run', '--rm', '--network', 'none', '--device', opts.device, ...(opts.flags ?? []), '--rootfs', opts.rootfs, ...opts.argv],
        { env, encoding: 'utf8', timeout: 60_000 },
      ),
  }
}

/**
 * crun 1.8 refuses the hybrid cgroup layout (runtimes.md): hide the cgroup2
 * mount. Only inside a private mount namespace; runc runs either way. Under
 * a cgroup2 mounted over /sys/fs/cgroup (test/harness/enter-arch.sh) there is
 * no unified directory to hide.
 */
export const hideHybridCgroup2 = () => {
  if (readFileSync('/proc/self/mountinfo', 'utf8').includes(' /sys/fs/cgroup/unified ') && existsSync('/sys/fs/cgroup/unified')) {
    execFileSync('/usr/bin/umount', ['/sys/fs/cgroup/unified'])
  }
}

/**
 * A createContainer hook that copies the bundle's config.json, as the runtime
 * got it, to `<out>/<container id>.json`. Returns its hooks.d entry.
 */
export const configCapture = (dir: string, out: string) => {
  mkdirSync(out, { recursive: true })
  const script = join(dir, 'capture-config.sh')
  writeFileSync(
    script,
    [
      '#!/bin/sh',
      // crun 1.28 writes the state indented, with escaped slashes: parse it as JSON.
      'state=$(cat)',
      `id=$(printf '%s' "$state" | jq -r .id)`,
      `bundle=$(printf '%s' "$state" | jq -r .bundle)`,
      `exec cp "$bundle/config.json" "${out}/$id.json"`,
      '',
    ].join('\n'),
    { mode: 0o755 },
  )
  return {
    version: '1.0.0',
    hook: { path: script, args: ['capture-config.sh'], env: ['PATH=/usr/bin:/bin'] },
    when: { always: true },
    stages: ['createContainer'],
  }
}
