import { main, processIO } from './cli'

// Exit via exitCode so stdout/stderr drain before the process ends.
process.exitCode = main(process.argv.slice(2), processIO())
