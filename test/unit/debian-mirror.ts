// build/debian-mirror.cjs: the Debian mirror comes from this machine's apt
// configuration (or NPH_DEBIAN_MIRROR), and no file of the project names one.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { debianMirror, MIRROR_VAR, parseSources } from '../../build/debian-mirror.cjs'

const REPO = join(__dirname, '../..')

/** An apt configuration directory and os-release in a fresh temporary directory. */
const aptConfig = (t: Test, codename: string, files: Record<string, string>) => {
  const dir = mkdtempSync(join(tmpdir(), 'nph-apt-'))
  t.teardown(() => rmSync(dir, { recursive: true }))
  mkdirSync(join(dir, 'apt/sources.list.d'), { recursive: true })
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, 'apt', name), text)
  writeFileSync(join(dir, 'os-release'), `PRETTY_NAME="Debian GNU/Linux"\nVERSION_CODENAME=${codename}\nID=debian\n`)
  return { env: {}, aptDir: join(dir, 'apt'), osRelease: join(dir, 'os-release') }
}

// A deb822 file as Debian 12 installs it, with what apt accepts besides:
// a disabled stanza, a key embedded in Signed-By, several URIs, comments.
const DEB822 = `# Written by hand.

Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
Enabled: no

Types: deb deb-src
URIs: http://security.example/debian-security
Suites: bookworm-security
Components: main

Types: deb
URIs: https://vendor.example/node_20.x
Suites: nodistro
Components: main
Architectures: amd64
Signed-By: /usr/share/keyrings/vendor.gpg

Types: deb-src
URIs: http://sources-only.example/debian
Suites: bookworm
Components: main

Types: deb
URIs: file:/srv/flat
Suites: ./

Types: deb
# A comment between fields.
URIs: http://first.example/debian/ http://second.example/debian
Suites: bookworm bookworm-updates
Components: main contrib
Signed-By:
 -----BEGIN PGP PUBLIC KEY BLOCK-----
 .
 mQINBGPazmABEADAQ0Tb1VmpzzgRN39ERfK6ZxE9NHbMxBbhCfv9M7KGrsAIaG9z
 -----END PGP PUBLIC KEY BLOCK-----
`

t.test('deb822: enabled stanzas, every field a list of words', async t => {
  t.same(parseSources(DEB822, true), [
    { types: ['deb', 'deb-src'], uris: ['http://security.example/debian-security'], suites: ['bookworm-security'], components: ['main'] },
    { types: ['deb'], uris: ['https://vendor.example/node_20.x'], suites: ['nodistro'], components: ['main'] },
    { types: ['deb-src'], uris: ['http://sources-only.example/debian'], suites: ['bookworm'], components: ['main'] },
    { types: ['deb'], uris: ['file:/srv/flat'], suites: ['./'], components: [] },
    { types: ['deb'], uris: ['http://first.example/debian/', 'http://second.example/debian'], suites: ['bookworm', 'bookworm-updates'], components: ['main', 'contrib'] },
  ])
})

t.test('one-line: options in brackets, comments and commented-out entries skipped', async t => {
  const text = `# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://mirror.example/debian bookworm main non-free-firmware # trailing
deb-src http://mirror.example/debian bookworm main
deb [ trusted=yes ] file:/srv/local ./
`
  t.same(parseSources(text, false), [
    { types: ['deb'], uris: ['http://mirror.example/debian'], suites: ['bookworm'], components: ['main', 'non-free-firmware'] },
    { types: ['deb-src'], uris: ['http://mirror.example/debian'], suites: ['bookworm'], components: ['main'] },
    { types: ['deb'], uris: ['file:/srv/local'], suites: ['./'], components: [] },
  ])
})

t.test('the mirror: the first enabled deb entry of this release with main, in apt order', async t => {
  t.equal(debianMirror(aptConfig(t, 'bookworm', { 'sources.list.d/debian.sources': DEB822 })), 'http://first.example/debian', 'deb822: the first URI, no trailing slash')
  t.equal(
    debianMirror(aptConfig(t, 'bookworm', { 'sources.list.d/debian.sources': DEB822, 'sources.list': 'deb [arch=amd64] http://one-line.example/debian/ bookworm main\n' })),
    'http://one-line.example/debian',
    'sources.list before sources.list.d',
  )
  t.equal(
    debianMirror(aptConfig(t, 'trixie', { 'sources.list.d/b.list': 'deb http://b.example/debian trixie main\n', 'sources.list.d/a.list': 'deb http://a.example/debian trixie main\n' })),
    'http://a.example/debian',
    'sources.list.d by name',
  )
  t.equal(
    debianMirror(aptConfig(t, 'bookworm', { 'sources.list.d/x.sources.disabled': 'Types: deb\nURIs: http://off.example/debian\nSuites: bookworm\nComponents: main\n', 'sources.list': 'deb http://on.example/debian bookworm main\n' })),
    'http://on.example/debian',
    'files apt does not read are not read',
  )
})

t.test(`${MIRROR_VAR} overrides apt's configuration`, async t => {
  const where = aptConfig(t, 'bookworm', { 'sources.list.d/debian.sources': DEB822 })
  t.equal(debianMirror({ ...where, env: { [MIRROR_VAR]: 'http://override.example/debian/' } }), 'http://override.example/debian')
})

t.test('URIs folded over continuation lines', async t => {
  t.same(parseSources('Types: deb\nURIs:\n http://a.example/debian\n http://b.example/debian\nSuites: bookworm\nComponents: main\n', true), [
    { types: ['deb'], uris: ['http://a.example/debian', 'http://b.example/debian'], suites: ['bookworm'], components: ['main'] },
  ])
})

t.test('no Debian archive for this release: one line naming the variable', async t => {
  const only = aptConfig(t, 'bookworm', { 'sources.list.d/vendor.sources': 'Types: deb\nURIs: https://vendor.example/x\nSuites: nodistro\nComponents: main\n' })
  t.throws(() => debianMirror(only), { message: /^no Debian mirror for "bookworm" in .*: set NPH_DEBIAN_MIRROR to one$/ })
  const empty = aptConfig(t, 'bookworm', {})
  t.throws(() => debianMirror(empty), { message: /^[^\n]*NPH_DEBIAN_MIRROR[^\n]*$/ })
  const noRelease = aptConfig(t, 'bookworm', { 'sources.list': 'deb http://mirror.example/debian bookworm main\n' })
  t.throws(() => debianMirror({ ...noRelease, osRelease: join(noRelease.aptDir, 'missing') }), { message: /^no Debian mirror in .*: set NPH_DEBIAN_MIRROR to one$/ }, 'no os-release: no release to match')
})

t.test('an apt configuration that cannot be read: its error; one that is absent: none', async t => {
  const where = aptConfig(t, 'bookworm', {})
  mkdirSync(join(where.aptDir, 'sources.list'))
  t.throws(() => debianMirror(where), { code: 'EISDIR' })
  const fileForDir = aptConfig(t, 'bookworm', {})
  rmSync(join(fileForDir.aptDir, 'sources.list.d'), { recursive: true })
  writeFileSync(join(fileForDir.aptDir, 'sources.list.d'), 'a file')
  t.throws(() => debianMirror(fileForDir), { code: 'ENOTDIR' })
  const noDir = aptConfig(t, 'bookworm', { 'sources.list': 'deb http://mirror.example/debian bookworm main\n' })
  rmSync(join(noDir.aptDir, 'sources.list.d'), { recursive: true })
  t.equal(debianMirror(noDir), 'http://mirror.example/debian', 'no sources.list.d: sources.list alone')
})

t.test("this machine's mirror is the one apt uses for this release's main", { skip: spawnSync('apt-get', ['--version']).error ? 'not a Debian machine (no apt-get)' : false }, async t => {
  const codename = /^VERSION_CODENAME=(\S+)/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'none'
  const apt = spawnSync('apt-get', ['indextargets', '--no-release-info', '--format', '$(REPO_URI)', `Release: ${codename}`, 'Component: main', 'Target-Of: deb'], { encoding: 'utf8' })
  const first = apt.stdout.split('\n')[0] ?? ''
  t.not(first, '', `apt has a ${codename} main entry`)
  t.equal(debianMirror({ env: {} }), first.replace(/\/+$/, ''))
})

/**
 * Host names of Debian's mirror network (any *.debian.org but the web site),
 * and any URL whose path is a Debian archive's. Reserved example names
 * (RFC 2606, RFC 6761) are no one's mirror.
 */
const MIRROR_HOST = /\b(?!www\.)[\w-]+(?:\.[\w-]+)*\.debian\.org\b|\b[a-z]+:\/\/(?![^/\s'"]*\.(?:example|invalid|test)\b)[^/\s'"`]+\/(?:debian|debian-security|debian-ports|ubuntu)\b/g

t.test('no file of the project names a Debian mirror', async t => {
  const named: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      if (['.git', 'node_modules', 'dist', '.tap'].includes(name) && dir === REPO) continue
      const st = statSync(path)
      if (st.isDirectory()) walk(path)
      else if (st.isFile()) for (const m of readFileSync(path, 'latin1').matchAll(MIRROR_HOST)) named.push(`${relative(REPO, path)}: ${m[0]}`)
    }
  }
  walk(REPO)
  t.same(named, [], 'the mirror comes from build/debian-mirror.cjs')
})
