/** Where the real services are by default, and naming that keeps test data apart. */

/** The real services tests talk to. Override with STRATA_REDIS_URL / STRATA_DATABASE_URL. */
export function serviceUrls(env: Record<string, string | undefined> = process.env): {
  redisUrl: string;
  databaseUrl: string;
} {
  return {
    redisUrl: env.STRATA_REDIS_URL ?? 'redis://127.0.0.1:6379',
    databaseUrl: env.STRATA_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test',
  };
}

let counter = 0;

/**
 * A name no other test file or run uses: for Redis key prefixes, Postgres schemas and tables.
 * Lowercase letters, digits and `_` only, so it is a valid unquoted SQL identifier.
 * @example const prefix = `${uniqueName('upstash')}:`;
 */
export function uniqueName(label: string): string {
  counter += 1;
  const random = crypto.getRandomValues(new Uint32Array(1))[0]!.toString(36);
  const safe = label.toLowerCase().replace(/[^a-z0-9]+/g, '_');
  return `t_${safe}_${process.pid.toString(36)}_${counter}_${random}`;
}
