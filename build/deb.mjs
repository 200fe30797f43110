// Builds nvidia-procfs-hook_<version>_<arch>.deb (in dist/, or the directory
// given) from the single executable that `npm run build` made, for this
// machine's architecture or the ones `--arch x64|arm64|all` names: the binary in
// /usr/bin, the hooks.d files (package-inputs.mjs HOOKS_D_FILES), the man page, copyright,
// third-party notices (build/notices.mjs) and changelogs, and the systemd
// units that keep CDI specs patched (systemd/):
// the watcher service, which postinst enables and starts when systemd runs
// the host, and a drop-in that has NVIDIA's nvidia-cdi-refresh.service patch
// the spec it writes. prerm stops the watcher and reverts the specs before
// the binary goes: an entry naming a missing binary fails every GPU container.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs'
import { join, relative } from 'node:path'
import { executableNoticesPath, NOTICES } from './notices.mjs'
import { APACHE_NOTICE, gzip, HOOKS_D_FILES, noticesReference, packagingInputs, stager } from './package-inputs.mjs'
import { executablePath, NAME, TARGETS } from './targets.mjs'

const MAINTAINER = 'nvidia-procfs-hook maintainers <maintainers@users.noreply.r-seed-b8cb3690.example>'
const { arches, out, version, man } = packagingInputs()

/** Builds the .deb for `arch` (build/targets.mjs) into `out`. */
const buildDeb = arch => {
  const deb = join(out, `${NAME}_${version}_${TARGETS[arch].deb}.deb`)
  const root = join(out, `.deb-root.${process.pid}`)
  rmSync(root, { recursive: true, force: true })
  const put = stager(root)

  put(`usr/bin/${NAME}`, { from: executablePath(arch) }, 0o755)
  for (const [installed, source] of HOOKS_D_FILES) put(installed.slice(1), { from: source })
  put(`usr/share/man/man1/${NAME}.1.gz`, gzip(man))
  const WATCH_UNIT = `${NAME}-cdi-watch.service`
  const REFRESH_DROP_IN = `nvidia-cdi-refresh.service.d/${NAME}.conf`
  put(`usr/lib/systemd/system/${WATCH_UNIT}`, { from: `systemd/${WATCH_UNIT}` })
  put(`usr/lib/systemd/system/${REFRESH_DROP_IN}`, { from: `systemd/${REFRESH_DROP_IN}` })
  put(`usr/share/doc/${NAME}/changelog.gz`, gzip(readFileSync('CHANGELOG.md')))
  // Compressed as Debian policy 12.3 asks of documentation that is not small
  // (gzip -9n); the copyright file, which must stay plain, points at it.
  const noticesFile = `/usr/share/doc/${NAME}/${NOTICES}.gz`
  put(noticesFile.slice(1), gzip(readFileSync(executableNoticesPath(arch))))
  const date = new Date().toUTCString().replace('GMT', '+0000')
  put(
    `usr/share/doc/${NAME}/changelog.Debian.gz`,
    gzip(`${NAME} (${version}) unstable; urgency=medium\n\n  * Upstream release ${version}; see changelog.gz.\n\n -- ${MAINTAINER}  ${date}\n`),
  )
  put(
    `usr/share/doc/${NAME}/copyright`,
    `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ${NAME}
Comment: ${noticesReference(noticesFile).join('\n ')}

Files: *
Copyright: 2026 nvidia-procfs-hook authors
License: Apache-2.0

License: Apache-2.0
${APACHE_NOTICE.join('\n .\n')}
 .
 On Debian systems, the complete text of the Apache License, Version 2.0
 can be found in "/usr/share/common-licenses/Apache-2.0".
`,
  )

  // The executable is Node itself (a single executable application): it carries
  // the libraries Node bundles, and the official Node binary is not built as PIE.
  put(
    `usr/share/lintian/overrides/${NAME}`,
    ['embedded-library mbedtls', 'embedded-library zlib', 'hardening-no-pie'].map(tag => `${NAME}: ${tag} [usr/bin/${NAME}]\n`).join(''),
  )

  // What dpkg --verify and debsums check the installed files against (what
  // dh_md5sums writes): every file's MD5, by its path relative to /.
  const files = execFileSync('find', [root, '-type', 'f'], { encoding: 'utf8' }).trim().split('\n').sort()
  const md5sums = files.map(f => `${createHash('md5').update(readFileSync(f)).digest('hex')}  ${relative(root, f)}\n`).join('')
  const installedKiB = files.reduce((n, f) => n + Math.ceil(statSync(f).size / 1024), 0)
  put('DEBIAN/md5sums', md5sums)

  // The libraries the Node executable links (ldd): glibc, libstdc++, libgcc_s,
  // libatomic. mount and umount are in `mount`; nsenter and flock in the
  // essential util-linux.
  put(
    'DEBIAN/control',
    `Package: ${NAME}
Version: ${version}
Architecture: ${TARGETS[arch].deb}
Maintainer: ${MAINTAINER}
Installed-Size: ${installedKiB}
Depends: libatomic1, libc6 (>= 2.28), libgcc-s1, libstdc++6, mount
Section: admin
Priority: optional
Description: OCI hook that lets NVIDIA's CDI hooks work under gVisor
 Registered as a createContainer hook before NVIDIA's (nvidia-procfs-hook
 cdi patch, or the hooks.d files this package installs), it makes
 <rootfs>/proc/driver/nvidia a read-only bind of the host's, so that
 nvidia-ctk's disable-device-node-modification hook works inside the
 gVisor gofer. Run "nvidia-procfs-hook doctor" to check a host.
`,
  )
  // Maintainer scripts. Only where systemd runs the host (/run/systemd/system),
  // and never for another root (dpkg --root sets DPKG_ROOT: that root's
  // services are not this host's); deb-systemd-helper and deb-systemd-invoke
  // (init-system-helpers) when present, as Debian policy asks, else systemctl.
  const SYSTEMD_RUNS = '[ -z "${DPKG_ROOT:-}" ] && [ -d /run/systemd/system ]'
  const helpers = `UNIT=${WATCH_UNIT}
helper() { if command -v deb-systemd-helper >/dev/null 2>&1; then deb-systemd-helper "$@"; else systemctl "$@"; fi; }
invoke() { if command -v deb-systemd-invoke >/dev/null 2>&1; then deb-systemd-invoke "$@"; else systemctl "$@"; fi; }
`
  put(
    'DEBIAN/postinst',
    `#!/bin/sh
# Enables and (re)starts the CDI spec watcher; the reload picks up the drop-in
# for nvidia-cdi-refresh.service.
set -e
${helpers}
case "$1" in
configure | abort-upgrade | abort-deconfigure | abort-remove)
  if ${SYSTEMD_RUNS}; then
    systemctl --system daemon-reload >/dev/null || true
    helper enable "$UNIT" >/dev/null
    # A watcher that fails to start is doctor's to report, not a failed install.
    invoke restart "$UNIT" || true
  fi
  ;;
esac
exit 0
`,
    0o755,
  )
  put(
    'DEBIAN/prerm',
    `#!/bin/sh
# On removal: stop and disable the watcher (or it would put the entries back),
# then remove our entries from the CDI specs while the binary is still here.
set -e
${helpers}
case "$1" in
remove | deconfigure)
  if ${SYSTEMD_RUNS}; then
    invoke stop "$UNIT" || true
    helper disable "$UNIT" >/dev/null || true
  fi
  dirs=
  for dir in /etc/cdi /var/run/cdi; do
    if [ -d "\${DPKG_ROOT:-}$dir" ]; then dirs="$dirs \${DPKG_ROOT:-}$dir"; fi
  done
  # Word splitting of $dirs is meant: the paths have no spaces.
  if [ -n "$dirs" ] && ! "\${DPKG_ROOT:-}/usr/bin/${NAME}" cdi revert $dirs; then
    echo "${NAME}: cannot revert the CDI specs above; fix them (or run ${NAME} cdi revert), then remove the package again" >&2
    exit 1
  fi
  ;;
esac
exit 0
`,
    0o755,
  )
  put(
    'DEBIAN/postrm',
    `#!/bin/sh
# The units are gone: let systemd forget them.
set -e
case "$1" in
remove | purge)
  if ${SYSTEMD_RUNS}; then systemctl --system daemon-reload >/dev/null || true; fi
  ;;
esac
if [ "$1" = purge ] && command -v deb-systemd-helper >/dev/null 2>&1; then deb-systemd-helper purge ${WATCH_UNIT} >/dev/null || true; fi
exit 0
`,
    0o755,
  )
  for (const dir of execFileSync('find', [root, '-type', 'd'], { encoding: 'utf8' }).trim().split('\n')) chmodSync(dir, 0o755)

  mkdirSync(out, { recursive: true })
  // gzip -1: 5 s instead of xz's minutes for a ~120 MB executable, readable by every dpkg.
  execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z1', '--build', root, `${deb}.tmp`], { stdio: ['ignore', 'ignore', 'inherit'] })
  renameSync(`${deb}.tmp`, deb)
  rmSync(root, { recursive: true, force: true })
  console.log(`built ${deb} (${(statSync(deb).size / 1e6).toFixed(1)} MB)`)
}

for (const arch of arches) buildDeb(arch)
