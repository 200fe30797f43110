import { isSea } from 'node:sea'
import { sanitizeEnv } from './sanitize-env'
import { main, processIO } from './cli'

// The executable must not act on a container image's environment: runc hands
// it to a createContainer hook that has no env list of its own. Under a Node
// that someone chose to run dist/cli.js with, the environment is theirs. v8 is
// required only when needed: it costs start-up.
if (isSea()) sanitizeEnv(process.env, () => (require('node:v8') as typeof import('node:v8')).stopCoverage())
const code = main(process.argv.slice(2), processIO())
// With nothing left to run (no stream, timer or watcher: the hook's silent
// runs), exit now: a normal exit first tears down V8's heap, ~2.4 ms of every
// run on the development machine (bench/bench.mjs), more than the skip path's
// own work. Otherwise via exitCode, so what is pending (output to a pipe,
// `cdi --watch`) runs first.
if (process.getActiveResourcesInfo().length === 0) process.exit(code)
process.exitCode = code
