/**
 * Variables that make Node, OpenSSL, libc or util-linux load code, read or
 * write files, or change how they work. Node acts on several before any of
 * our code runs; the build pins what it can (build/build.mjs: NODE_OPTIONS
 * ignored, OPENSSL_CONF overridden, warnings off). Removing them here keeps
 * anything this process starts from inheriting them.
 */
export const RISKY = /^(NODE_|UV_|OPENSSL_|SSL_CERT_|LD_|LIBMOUNT_|LIBBLKID_|GCONV_PATH$|GLIBC_TUNABLES$)/

/** Cancels what Node still has pending from `env` and strips the risky variables from it. */
export const sanitizeEnv = (env: NodeJS.ProcessEnv, stopCoverage: () => void): void => {
  // Node writes a coverage file into this directory when it exits; stopping
  // the collection cancels that write (Node then says so on stderr).
  if (env.NODE_V8_COVERAGE !== undefined) stopCoverage()
  for (const name of Object.keys(env)) {
    if (RISKY.test(name)) delete env[name]
  }
}
