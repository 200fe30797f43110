// Where test/harness/real-tools.ts still finds these; doctor's checks live in src/doctor-*.ts.
export { versionOf } from './doctor-finding'
export { runscHooks, type RunscHooks } from './runsc-release'
