import { filesIn } from './doctor-finding'
import { DEFAULT_SPEC_DIRS } from './host-layout'

/**
 * The CDI specs in /etc/cdi and /var/run/cdi, as CDI loads them (`.json`
 * and `.yaml`, sorted per directory): host paths, each directory resolved
 * under `root` as the host resolves it (host-root.ts: `/var/run -> /run`
 * on Debian and Ubuntu). Read by doctor and install alike.
 */
export const specFiles = ({ root }: { root: string }): string[] => DEFAULT_SPEC_DIRS.flatMap(d => filesIn({ root }, d, /\.(json|yaml)$/))
