import { fstatSync } from 'node:fs'
import { isSea } from 'node:sea'
import { version } from '../package.json'
import { HookError } from './errors'
import { HOOK_USAGE, hookCommand, type HookIO } from './hook'
import { procProbe } from './placement'
import { precreateCommand } from './precreate'
import { unmountCommand } from './unmount'

export const USAGE = `Usage:
  nvidia-procfs-hook [hook] [options] < state.json   the OCI hook (default)
  nvidia-procfs-hook unmount --rootfs DIR             undo a standalone run
  nvidia-procfs-hook precreate < config > config      podman's precreate stage (hooks.d)
  nvidia-procfs-hook cdi patch|check|revert [--watch] [SPEC|DIR...]
  nvidia-procfs-hook doctor [--json]                  is this host ready? what to fix
  nvidia-procfs-hook install [--cdi] [--hooks-d]      copy this executable into place, register it
  nvidia-procfs-hook uninstall                        undo exactly what install did
  nvidia-procfs-hook --help | --version

${HOOK_USAGE.slice(HOOK_USAGE.indexOf('\n\n') + 2)}`

export const versionText = () => `nvidia-procfs-hook ${version} (node ${process.version})`

/** Dispatches a command line; returns the exit code. Errors become one line on stderr. */
export const main = (argv: string[], io: HookIO): number => {
  try {
    const [first, ...rest] = argv
    if (first === '--help' || first === '-h' || first === 'help') {
      io.out(USAGE)
      return 0
    }
    if (first === '--version') {
      io.out(versionText())
      return 0
    }
    if (first === 'unmount') return unmountCommand(rest, io.out)
    if (first === 'hook') return hookCommand(rest, io)
    if (first === 'precreate') return precreateCommand(rest, io)
    // Required here, not imported: cdi loads yaml, which the hook's start-up must not pay for.
    if (first === 'cdi') return (require('./cdi') as typeof import('./cdi')).cdiCommand(rest, io)
    if (first === 'doctor') return (require('./doctor') as typeof import('./doctor')).doctorCommand(rest, io)
    if (first === 'install') return (require('./install') as typeof import('./install')).installCommand(rest, io)
    if (first === 'uninstall') return (require('./install') as typeof import('./install')).uninstallCommand(rest, io)
    if (first === undefined || first.startsWith('-')) return hookCommand(argv, io)
    throw new HookError(`unknown command ${JSON.stringify(first)}; see --help`, 2)
  } catch (er) {
    if (er instanceof HookError) {
      io.err(`nvidia-procfs-hook: error: ${er.message}`)
      return er.exitCode
    }
    // A bug, not a verdict on the container: still one line, still a refusal.
    const e = er as NodeJS.ErrnoException
    io.err(`nvidia-procfs-hook: internal error: ${e?.code ? `${e.code}: ` : ''}${e?.message ?? String(er)}`)
    return 1
  }
}

/**
 * Messages quote paths and input that came from runtimes and images; a
 * control character in them (a newline in a bundle path) must not break the
 * one-line-per-message contract on stderr.
 */
export const oneLine = (line: string) =>
  line.replace(/\n$/, '').replace(/[\x00-\x1f\x7f]/g, c => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)

export const processIO = (): HookIO => ({
  stdin: 0,
  // Only a character device can be a terminal; runtimes give a pipe or a file,
  // so tty (which loads net, ~8 ms) is required only when it can matter.
  isTTY: fd => fstatSync(fd).isCharacterDevice() && (require('node:tty') as typeof import('node:tty')).isatty(fd),
  out: line => process.stdout.write(line.endsWith('\n') ? line : line + '\n'),
  err: line => process.stderr.write(oneLine(line) + '\n'),
  probe: procProbe,
  self: selfCommand(isSea(), process.execPath, process.argv[1]),
})

/** How to run this program again: a single executable is one file; otherwise node + script. */
export const selfCommand = (sea: boolean, execPath: string, script: string | undefined): string[] =>
  sea || script === undefined ? [execPath] : [execPath, script]

