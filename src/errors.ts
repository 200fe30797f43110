/** A failure the hook reports as one line; exit 1 means "do not start the container". */
export class HookError extends Error {
  readonly exitCode: number
  /** `options.cause`: the system error behind it, for callers that decide on its code. */
  constructor(message: string, exitCode = 1, options?: ErrorOptions) {
    super(message, options)
    this.name = 'HookError'
    this.exitCode = exitCode
  }
}

/** Misuse of the command line: exit 2, like most CLIs. */
export class UsageError extends HookError {
  constructor(message: string) {
    super(message, 2)
    this.name = 'UsageError'
  }
}

/** The `code` of a Node system error, or undefined for anything else. */
export const errorCode = (er: unknown): string | undefined =>
  er instanceof Error && typeof (er as NodeJS.ErrnoException).code === 'string'
    ? (er as NodeJS.ErrnoException).code
    : undefined

/** What to say about a caught error in a one-line message: its code when it has one. */
export const errorText = (er: unknown): string => errorCode(er) ?? (er instanceof Error ? er.message : String(er))
