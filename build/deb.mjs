// Builds nvidia-procfs-hook_<version>_amd64.deb (in dist/, or the directory
// given) from the single executable that `npm run build` made: the binary in
// /usr/bin, podman's precreate hooks.d file, the man page, copyright and
// changelogs. The package registers nothing by itself in CDI specs: that is
// `nvidia-procfs-hook cdi patch`, an operator's decision.
import { execFileSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { gzipSync } from 'node:zlib'

const NAME = 'nvidia-procfs-hook'
const MAINTAINER = 'nvidia-procfs-hook maintainers <maintainers@users.noreply.r-seed-b8cb3690.example>'
const { version } = JSON.parse(readFileSync('package.json', 'utf8'))
const out = resolve(process.argv[2] ?? 'dist')
const executable = resolve('dist', NAME)
const deb = join(out, `${NAME}_${version}_amd64.deb`)

if (!statSync(executable, { throwIfNoEntry: false })?.isFile()) {
  console.error(`${executable} does not exist: run npm run build first`)
  process.exit(1)
}
const man = readFileSync(`man/${NAME}.1`, 'utf8')
if (!man.includes(`"${NAME} ${version}"`)) {
  console.error(`man/${NAME}.1: its .TH line does not name version ${version}`)
  process.exit(1)
}

const root = join(out, `.deb-root.${process.pid}`)
rmSync(root, { recursive: true, force: true })
const put = (path, data, mode = 0o644) => {
  const file = join(root, path)
  mkdirSync(dirname(file), { recursive: true })
  if (typeof data === 'string' || Buffer.isBuffer(data)) writeFileSync(file, data)
  else copyFileSync(data.from, file)
  chmodSync(file, mode)
}
// zlib's gzip header carries no file name and no time: equal input, equal bytes.
const gzip = text => gzipSync(text, { level: 9 })

put(`usr/bin/${NAME}`, { from: executable }, 0o755)
put(`usr/share/containers/oci/hooks.d/${NAME}.json`, { from: `hooks.d/${NAME}.json` })
put(`usr/share/man/man1/${NAME}.1.gz`, gzip(man))
put(`usr/share/doc/${NAME}/changelog.gz`, gzip(readFileSync('CHANGELOG.md')))
const date = new Date().toUTCString().replace('GMT', '+0000')
put(
  `usr/share/doc/${NAME}/changelog.Debian.gz`,
  gzip(`${NAME} (${version}) unstable; urgency=medium\n\n  * Upstream release ${version}; see changelog.gz.\n\n -- ${MAINTAINER}  ${date}\n`),
)
put(
  `usr/share/doc/${NAME}/copyright`,
  `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ${NAME}

Files: *
Copyright: 2026 nvidia-procfs-hook authors
License: Apache-2.0

License: Apache-2.0
 Licensed under the Apache License, Version 2.0 (the "License");
 you may not use this file except in compliance with the License.
 You may obtain a copy of the License at
 .
 http://www.apache.org/licenses/LICENSE-2.0
 .
 Unless required by applicable law or agreed to in writing, software
 distributed under the License is distributed on an "AS IS" BASIS,
 WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
 See the License for the specific language governing permissions and
 limitations under the License.
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

const installedKiB = dir =>
  readdirSync(dir, { withFileTypes: true }).reduce((n, e) => {
    const p = join(dir, e.name)
    return n + (e.isDirectory() ? installedKiB(p) : Math.ceil(statSync(p).size / 1024))
  }, 0)

// The libraries the Node executable links (ldd): glibc, libstdc++, libgcc_s,
// libatomic. mount and umount are in `mount`; nsenter and flock in the
// essential util-linux.
put(
  'DEBIAN/control',
  `Package: ${NAME}
Version: ${version}
Architecture: amd64
Maintainer: ${MAINTAINER}
Installed-Size: ${installedKiB(root)}
Depends: libatomic1, libc6 (>= 2.28), libgcc-s1, libstdc++6, mount
Section: admin
Priority: optional
Description: OCI hook that lets NVIDIA's CDI hooks work under gVisor
 Registered as a createContainer hook before NVIDIA's (nvidia-procfs-hook
 cdi patch, or the podman hooks.d file this package installs), it makes
 <rootfs>/proc/driver/nvidia a read-only bind of the host's, so that
 nvidia-ctk's disable-device-node-modification hook works inside the
 gVisor gofer. Run "nvidia-procfs-hook doctor" to check a host.
`,
)
for (const dir of execFileSync('find', [root, '-type', 'd'], { encoding: 'utf8' }).trim().split('\n')) chmodSync(dir, 0o755)

mkdirSync(out, { recursive: true })
// gzip -1: 5 s instead of xz's minutes for a ~120 MB executable, readable by every dpkg.
execFileSync('dpkg-deb', ['--root-owner-group', '-Zgzip', '-z1', '--build', root, `${deb}.tmp`], { stdio: ['ignore', 'ignore', 'inherit'] })
renameSync(`${deb}.tmp`, deb)
rmSync(root, { recursive: true, force: true })
console.log(`built ${deb} (${(statSync(deb).size / 1e6).toFixed(1)} MB)`)
