/** A command line that cannot be run: exit code 2, with the usage. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A failure worth a plain message and exit code 1 (missing configuration, …). */
export class CliFailure extends Error {
  override readonly name = 'CliFailure';
}
