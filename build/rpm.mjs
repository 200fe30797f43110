// Builds nvidia-procfs-hook-<version>-1.<arch>.rpm (in dist/, or the directory
// given) from the single executable that `npm run build` made, for this
// machine's architecture or the ones `--arch x64|arm64|all` names, for RHEL,
// Fedora and their kin: the files of the .deb (build/deb.mjs) less the
// Debian-only ones (lintian overrides, changelog.Debian.gz), the third-party
// notices uncompressed as a %license file in /usr/share/licenses, and scriptlets
// that do what the .deb's maintainer scripts do. rpmbuild (Debian's `rpm`
// package has it) runs in a temporary _topdir that is removed afterwards;
// stripping, debuginfo, build-id links and the brp scripts are off (the
// executable is Node with the bundle appended: stripping it breaks it), and
// the payload is gzip -1, so the build takes seconds.
import { execFileSync, spawnSync } from 'node:child_process'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { executableNoticesPath, NOTICES } from './notices.mjs'
import { APACHE_NOTICE, gzip, HOOKS_D_FILES, noticesReference, packagingInputs, stager } from './package-inputs.mjs'
import { executablePath, NAME, TARGETS } from './targets.mjs'

const { arches, out, version, man } = packagingInputs()
if (spawnSync('rpmbuild', ['--version'], { stdio: 'ignore' }).status !== 0) {
  console.error('rpmbuild is not installed: apt-get install rpm (Debian), dnf install rpm-build (Fedora)')
  process.exit(1)
}

/** Builds the .rpm for `arch` (build/targets.mjs) into `out`. */
const buildRpm = arch => {
  const rpmFile = `${NAME}-${version}-1.${TARGETS[arch].rpm}.rpm`
  const top = mkdtempSync(join(tmpdir(), 'nph-rpmbuild-'))
  try {
    // What %install copies into the buildroot, laid out as installed.
    const stage = join(top, 'stage')
    const put = stager(stage)
    const WATCH_UNIT = `${NAME}-cdi-watch.service`
    const REFRESH_DROP_IN_DIR = 'nvidia-cdi-refresh.service.d'
    const REFRESH_DROP_IN = `${REFRESH_DROP_IN_DIR}/${NAME}.conf`
    const UNIT_DIR = '/usr/lib/systemd/system'
    const DOC_DIR = `/usr/share/doc/${NAME}`
    // Where rpm puts a package's %license files (%{_defaultlicensedir}).
    const LICENSE_DIR = `/usr/share/licenses/${NAME}`

    put(`usr/bin/${NAME}`, { from: executablePath(arch) }, 0o755)
    for (const [installed, source] of HOOKS_D_FILES) put(installed.slice(1), { from: source })
    put(`usr/share/man/man1/${NAME}.1.gz`, gzip(man))
    put(`${UNIT_DIR}/${WATCH_UNIT}`.slice(1), { from: `systemd/${WATCH_UNIT}` })
    put(`${UNIT_DIR}/${REFRESH_DROP_IN}`.slice(1), { from: `systemd/${REFRESH_DROP_IN}` })
    put(`${DOC_DIR}/changelog.gz`.slice(1), gzip(readFileSync('CHANGELOG.md')))
    put(`${LICENSE_DIR}/${NOTICES}`.slice(1), { from: executableNoticesPath(arch) })
    put(
      `${DOC_DIR}/copyright`.slice(1),
      `Upstream-Name: ${NAME}
Copyright: 2026 nvidia-procfs-hook authors
License: Apache-2.0

${APACHE_NOTICE.join('\n\n')}

${noticesReference(`${LICENSE_DIR}/${NOTICES}`).map(l => ` ${l}`).join('\n')}
`,
    )

    // Scriptlets: what the .deb's postinst, prerm and postrm do. rpm passes the
    // number of instances left once the transaction is done: %preun and
    // %postun with 0 mean removal, 1 an upgrade (the old package going). rpm
    // runs them without `set -e`, with --root inside that root (so the guard on
    // /run/systemd/system keeps another root's scriptlets off this host's
    // systemd). Fedora's systemd-rpm-macros are not used: Debian's rpmbuild
    // lacks them, and they need systemd's presets where we enable outright as
    // the .deb does.
    const SYSTEMD_RUNS = '[ -d /run/systemd/system ]'
    const post = `# Enables and (re)starts the CDI spec watcher (on upgrade too: the new
# binary); the reload picks up the drop-in for nvidia-cdi-refresh.service.
UNIT=${WATCH_UNIT}
if ${SYSTEMD_RUNS}; then
  systemctl --system daemon-reload >/dev/null || :
  systemctl enable "$UNIT" >/dev/null || exit 1
  # A watcher that fails to start is doctor's to report, not a failed install.
  systemctl restart "$UNIT" || :
fi
exit 0`
    const preun = `# On removal ($1 = 0; not on upgrade): stop and disable the watcher (or it
# would put the entries back), then remove our entries from the CDI specs
# while the binary is still here. A failure stops the removal.
UNIT=${WATCH_UNIT}
if [ "$1" = 0 ]; then
  if ${SYSTEMD_RUNS}; then
    systemctl stop "$UNIT" || :
    systemctl disable "$UNIT" >/dev/null || :
  fi
  dirs=
  for dir in /etc/cdi /var/run/cdi; do
    if [ -d "$dir" ]; then dirs="$dirs $dir"; fi
  done
  # Word splitting of $dirs is meant: the paths have no spaces.
  if [ -n "$dirs" ] && ! /usr/bin/${NAME} cdi revert $dirs; then
    echo "${NAME}: cannot revert the CDI specs above; fix them (or run ${NAME} cdi revert), then remove the package again" >&2
    exit 1
  fi
fi
exit 0`
    // On upgrade too: the old package's files go after the new %post's reload,
    // so a unit the new version dropped is only forgotten here.
    const postun = `# The units are gone (or changed): let systemd forget them.
if ${SYSTEMD_RUNS}; then systemctl --system daemon-reload >/dev/null || :; fi
exit 0`
    for (const [name, body] of Object.entries({ post, preun, postun })) {
      if (body.includes('%')) throw new Error(`the %${name} scriptlet has a %: rpm would expand it`)
    }

    // The libraries the Node executable links (ldd): glibc (libc, libm, libdl,
    // libpthread), libstdc++, libgcc_s, libatomic. mount, umount, nsenter and
    // flock are in util-linux on RHEL and Fedora. Automatic dependencies are
    // off: explicit names, and no scan of a ~120 MB executable.
    const spec = `%define __strip /bin/true
%define __os_install_post %{nil}
%define __brp_mangle_shebangs /bin/true
%global debug_package %{nil}
%define _build_id_links none
%define _binary_payload w1.gzdio
%define _source_payload w1.gzdio

Name: ${NAME}
Version: ${version}
Release: 1
Summary: OCI hook that lets NVIDIA's CDI hooks work under gVisor
License: Apache-2.0
AutoReqProv: no
Requires: glibc, libstdc++, libgcc, libatomic, util-linux

%description
Registered as a createContainer hook before NVIDIA's (nvidia-procfs-hook
cdi patch, or the hooks.d files this package installs), it makes
<rootfs>/proc/driver/nvidia a read-only bind of the host's, so that
nvidia-ctk's disable-device-node-modification hook works inside the
gVisor gofer. Run "nvidia-procfs-hook doctor" to check a host.

%install
cp -a ${stage}/. %{buildroot}/

%post
${post}

%preun
${preun}

%postun
${postun}

%files
%defattr(0644,root,root,0755)
%attr(0755,root,root) /usr/bin/${NAME}
%dir /usr/share/${NAME}
%dir /usr/share/${NAME}/hooks.d
${HOOKS_D_FILES.map(([installed]) => installed).join('\n')}
/usr/share/man/man1/${NAME}.1.gz
${UNIT_DIR}/${WATCH_UNIT}
%dir ${UNIT_DIR}/${REFRESH_DROP_IN_DIR}
${UNIT_DIR}/${REFRESH_DROP_IN}
%dir ${DOC_DIR}
${DOC_DIR}/changelog.gz
${DOC_DIR}/copyright
%dir ${LICENSE_DIR}
%license ${LICENSE_DIR}/${NOTICES}
`
    const specFile = join(top, `${NAME}.spec`)
    writeFileSync(specFile, spec)
    execFileSync(
      'rpmbuild',
      ['-bb', '--quiet', '--target', `${TARGETS[arch].rpm}-linux`, '--define', `_topdir ${top}`, '--define', `_tmppath ${top}/tmp`, '--buildroot', join(top, 'buildroot'), specFile],
      { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, LC_ALL: 'C' } },
    )
    mkdirSync(out, { recursive: true })
    const built = join(top, 'RPMS', TARGETS[arch].rpm, rpmFile)
    const tmp = join(out, `${rpmFile}.tmp`)
    copyFileSync(built, tmp)
    renameSync(tmp, join(out, rpmFile))
  } finally {
    rmSync(top, { recursive: true, force: true })
  }
  console.log(`built ${join(out, rpmFile)} (${(statSync(join(out, rpmFile)).size / 1e6).toFixed(1)} MB)`)
}

for (const arch of arches) buildRpm(arch)
