// The Debian mirror that mmdebstrap builds roots and sysroots from: the one
// this machine's apt already uses for its own release, so that a build
// machine that reaches only its own mirror (an air-gapped cluster's) builds
// and tests as any other. NPH_DEBIAN_MIRROR overrides it. CommonJS, so that
// build code (.mjs) and the TypeScript tests import the same reader.
'use strict'
const { readdirSync, readFileSync } = require('node:fs')
const { join } = require('node:path')

/** The environment variable that names the mirror instead of apt's configuration. */
const MIRROR_VAR = 'NPH_DEBIAN_MIRROR'

/**
 * The entries of one apt sources file, enabled ones only, as apt reads them
 * (sources.list(5)): `text` in the deb822 form (`.sources`: stanzas apart by
 * blank lines, `#` comments, continuation lines, `Enabled: no`) when
 * `deb822`, else the one-line form (`.list`: `type [options] uri suite
 * [component...]`). Returns [{ types, uris, suites, components }], each an
 * array of words.
 */
const parseSources = (text, deb822) => (deb822 ? parseDeb822(text) : parseOneLine(text))

const parseOneLine = text => {
  const entries = []
  for (const line of text.split('\n')) {
    // type [ options ] uri suite [component...], up to a comment.
    const m = /^\s*(\S+)\s+(?:\[[^\]]*\]\s*)?([^\s[#]\S*)\s+([^\s#]+)([^#]*)/.exec(line)
    if (m && !m[1].startsWith('#')) entries.push({ types: [m[1]], uris: [m[2]], suites: [m[3]], components: m[4].split(/\s+/).filter(Boolean) })
  }
  return entries
}

const parseDeb822 = text => {
  const entries = []
  for (const stanza of text.split(/\n[ \t]*\n/)) {
    const fields = {}
    // A continuation line (a multi-line Signed-By key, say) belongs to the
    // field above it; one before any field is dropped with the '' field.
    let last = ''
    for (const line of stanza.split('\n')) {
      const field = /^([^#\s][^:\s]*):(.*)$/.exec(line)
      if (field) fields[(last = field[1].toLowerCase())] = field[2]
      else if (/^[ \t]/.test(line)) fields[last] += ` ${line}`
    }
    const words = key => (fields[key] ?? '').split(/\s+/).filter(Boolean)
    const entry = { types: words('types'), uris: words('uris'), suites: words('suites'), components: words('components') }
    if (words('enabled')[0] !== 'no' && entry.uris.length > 0) entries.push(entry)
  }
  return entries
}

/**
 * The Debian mirror's URL (no trailing slash): `env.NPH_DEBIAN_MIRROR` when
 * set, else the first URI of the first enabled `deb` entry in `aptDir`'s
 * sources.list, then sources.list.d/*.list and *.sources (apt's own order:
 * the file, then the directory's files by name) whose suites include this
 * machine's release (VERSION_CODENAME in `osRelease`) and whose components
 * include main: the archive apt installs the machine's own packages from
 * (not debian-security, whose suite is <codename>-security, nor a vendor's
 * repository). Throws one line naming what to set when there is none.
 */
const debianMirror = ({ env = process.env, aptDir = '/etc/apt', osRelease = '/etc/os-release' } = {}) => {
  const override = env[MIRROR_VAR]
  if (override) return override.replace(/\/+$/, '')
  const codename = /^VERSION_CODENAME=["']?([^"'\s]*)/m.exec(readOptional(osRelease) ?? '')?.[1]
  const dir = join(aptDir, 'sources.list.d')
  const names = (readOptionalDir(dir) ?? []).filter(n => /^[\w.-]+\.(list|sources)$/.test(n)).sort()
  const files = [[join(aptDir, 'sources.list'), false], ...names.map(n => [join(dir, n), n.endsWith('.sources')])]
  for (const [file, deb822] of files) {
    for (const e of parseSources(readOptional(file) ?? '', deb822)) {
      if (codename && e.types.includes('deb') && e.suites.includes(codename) && e.components.includes('main')) return e.uris[0].replace(/\/+$/, '')
    }
  }
  throw new Error(
    `no Debian mirror${codename ? ` for "${codename}"` : ''} in ${aptDir}/sources.list or ${dir} (a deb entry of this release with main): set ${MIRROR_VAR} to one`,
  )
}

const readOptional = path => {
  try {
    return readFileSync(path, 'utf8')
  } catch (er) {
    if (er.code === 'ENOENT') return undefined
    throw er
  }
}

const readOptionalDir = path => {
  try {
    return readdirSync(path)
  } catch (er) {
    if (er.code === 'ENOENT') return undefined
    throw er
  }
}

module.exports = { MIRROR_VAR, parseSources, debianMirror }
