import { readdirSync, readFileSync } from 'node:fs'
import { errorCode, errorText, HookError } from './errors'
import { CONTAINERS_CONF_D, CONTAINERS_CONF_FILES, PODMAN_DEFAULT_HOOKS_DIRS } from './host-layout'

/** One file's `[engine] hooks_dir`: its directories, and whether podman 5 appends them (`{append=true}`). */
export interface HooksDirSetting {
  dirs: string[]
  append: boolean
}

const fail = (file: string, line: number, why: string): never => {
  throw new HookError(`${file}:${line}: cannot read hooks_dir: ${why}`)
}

/** A TOML basic string's escapes (TOML 1.0 "String"): \b \t \n \f \r \" \\ \uXXXX \UXXXXXXXX. */
const ESCAPES: Record<string, string> = { b: '\b', t: '\t', n: '\n', f: '\f', r: '\r', '"': '"', '\\': '\\' }

/**
 * The `[engine] hooks_dir` of one containers.conf file's TOML `text`, or
 * undefined when the file does not set it. Reads just enough TOML for that
 * key: table headers, comments, and the array's basic and literal strings
 * and `{append = true|false}` table (containers/common's attributed string
 * slices, podman >= 5). Throws HookError naming `file` and the line when
 * hooks_dir is written in a form this does not read (a dotted key, a
 * multi-line string): better no drop-in than one built on a misread list.
 */
export const hooksDirSetting = (text: string, file: string): HooksDirSetting | undefined => {
  let table = ''
  let found: HooksDirSetting | undefined
  let i = 0
  let line = 1
  const skipSpace = (newlines: boolean) => {
    for (;;) {
      const c = text[i]
      if (c === ' ' || c === '\t' || c === '\r') i++
      else if (c === '\n' && newlines) {
        i++
        line++
      } else if (c === '#' && newlines) while (i < text.length && text[i] !== '\n') i++
      else return
    }
  }
  const restOfLine = () => {
    const end = text.indexOf('\n', i) >>> 0
    const s = text.slice(i, Math.min(end, text.length))
    i = Math.min(end, text.length)
    return s
  }
  const str = (): string => {
    const quote = text[i]
    if (text.startsWith(quote === '"' ? '"""' : "'''", i)) fail(file, line, 'a multi-line string')
    i++
    let out = ''
    for (;;) {
      const c = text[i++]
      if (c === undefined || c === '\n') return fail(file, line, 'an unterminated string')
      if (c === quote) return out
      if (c === '\\' && quote === '"') {
        const e = text[i++] as string
        if (e === 'u' || e === 'U') {
          const n = e === 'u' ? 4 : 8
          const hex = text.slice(i, i + n)
          if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== n) fail(file, line, 'a bad \\u escape')
          out += String.fromCodePoint(parseInt(hex, 16))
          i += n
        } else if (ESCAPES[e] !== undefined) out += ESCAPES[e]
        else fail(file, line, `an unknown escape \\${e}`)
      } else out += c
    }
  }
  const array = (): HooksDirSetting => {
    const setting: HooksDirSetting = { dirs: [], append: false }
    i++
    for (;;) {
      skipSpace(true)
      const c = text[i]
      if (c === ']') {
        i++
        return setting
      }
      if (c === '"' || c === "'") setting.dirs.push(str())
      else if (c === '{') {
        const end = text.indexOf('}', i)
        const m = /^\{\s*append\s*=\s*(true|false)\s*\}$/.exec(text.slice(i, end + 1)) ?? fail(file, line, 'an inline table other than {append=true}')
        setting.append = m[1] === 'true'
        i = end + 1
      } else fail(file, line, c === undefined ? 'an unterminated array' : `unexpected ${JSON.stringify(c)}`)
      skipSpace(true)
      if (text[i] === ',') i++
      else if (text[i] !== ']') fail(file, line, text[i] === undefined ? 'an unterminated array' : 'a missing comma')
    }
  }
  while (i < text.length) {
    skipSpace(true)
    if (i >= text.length) break
    if (text[i] === '[') {
      const header = restOfLine().replace(/#.*$/, '').trim()
      const m = /^\[\s*([A-Za-z0-9_.-]+)\s*\]$/.exec(header)
      // An array-of-tables header ([[x]]) or a quoted table name: not engine's.
      table = m ? (m[1] as string) : header
      continue
    }
    const key = /^(?:"hooks_dir"|'hooks_dir'|hooks_dir)\s*=\s*/.exec(text.slice(i))
    if (key) {
      i += key[0].length
      if (table !== 'engine') {
        restOfLine()
        continue
      }
      if (text[i] !== '[') fail(file, line, 'not an array')
      found = array()
      skipSpace(false)
      if (i < text.length && text[i] !== '\n' && text[i] !== '#') fail(file, line, 'text after the array')
      continue
    }
    if (/^engine\s*\.\s*hooks_dir\s*=/.test(text.slice(i)) && table === '') fail(file, line, 'a dotted key (engine.hooks_dir)')
    // Another key: skip its value. Only hooks_dir's own value is read; a
    // multi-line value of another key (an array over lines) is skipped line
    // by line, which is safe because no line of it starts with hooks_dir.
    restOfLine()
  }
  return found
}

/** One containers.conf file as podman reads it, and what it sets hooks_dir to. */
export interface ConfSource {
  /** Host path. */
  file: string
  setting?: HooksDirSetting
}

/**
 * podman's effective hooks_dir for root on the host whose paths `at`
 * resolves (host-root.ts hostPath): the default, then each containers.conf
 * source in containers/common's order (CONTAINERS_CONF_FILES, then
 * CONTAINERS_CONF_D's *.conf sorted by name), each setting replacing the
 * list or, with `{append=true}`, appending to it. `except` (a drop-in path)
 * is left out, as if absent. Returns the list and the sources read. Throws
 * HookError when a file cannot be read (other than absent) or parsed.
 */
export const podmanHooksDirs = (at: (p: string) => string, except?: string): { dirs: string[]; sources: ConfSource[] } => {
  const read = (file: string): ConfSource | undefined => {
    let text: string
    try {
      text = readFileSync(at(file), 'utf8')
    } catch (er) {
      if (errorCode(er) === 'ENOENT') return undefined
      throw new HookError(`cannot read ${at(file)}: ${errorText(er)}`)
    }
    return { file, setting: hooksDirSetting(text, at(file)) }
  }
  let names: string[] = []
  try {
    // Files only: containers/common skips directories, whatever their names.
    names = readdirSync(at(CONTAINERS_CONF_D), { withFileTypes: true })
      .filter(e => !e.isDirectory() && e.name.endsWith('.conf'))
      .map(e => e.name)
      .sort()
  } catch (er) {
    // Absent, or a file (podman 4.3 reads no drop-in then).
    if (errorCode(er) !== 'ENOENT' && errorCode(er) !== 'ENOTDIR') throw new HookError(`cannot list ${at(CONTAINERS_CONF_D)}: ${errorText(er)}`)
  }
  const sources = [...CONTAINERS_CONF_FILES, ...names.map(n => `${CONTAINERS_CONF_D}/${n}`)]
    .filter(f => f !== except)
    .flatMap(f => read(f) ?? [])
  return { dirs: applySettings(PODMAN_DEFAULT_HOOKS_DIRS, sources), sources }
}

/** The list after each source's setting in turn (replace, or append with `{append=true}`). */
export const applySettings = (start: string[], sources: ConfSource[]): string[] =>
  sources.reduce((dirs, s) => (s.setting === undefined ? dirs : s.setting.append ? [...dirs, ...s.setting.dirs] : [...s.setting.dirs]), [...start])
