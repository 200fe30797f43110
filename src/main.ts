import { isSea } from 'node:sea'
import { sanitizeEnv } from './sanitize-env'
import { main, processIO } from './cli'

// The executable must not act on a container image's environment: runc hands
// it to a createContainer hook that has no env list of its own. Under a Node
// that someone chose to run dist/cli.js with, the environment is theirs. v8 is
// required only when needed: it costs start-up.
if (isSea()) sanitizeEnv(process.env, () => (require('node:v8') as typeof import('node:v8')).stopCoverage())
// Exit via exitCode so stdout/stderr drain before the process ends.
process.exitCode = main(process.argv.slice(2), processIO())
