// Types of build/debian-mirror.cjs for the TypeScript tests.
export interface SourceEntry {
  types: string[]
  uris: string[]
  suites: string[]
  components: string[]
}
export declare const MIRROR_VAR: 'NPH_DEBIAN_MIRROR'
export declare const parseSources: (text: string, deb822: boolean) => SourceEntry[]
export declare const debianMirror: (where?: { env?: NodeJS.ProcessEnv; aptDir?: string; osRelease?: string }) => string
