/** What runs a query: a pg `Pool` or `Client`. */
interface Queryable {
  query(text: string): Promise<unknown>;
}

/** What lists and deletes Redis keys: an ioredis client. */
export interface KeyedRedis {
  keys(pattern: string): Promise<string[]>;
  del(...keys: string[]): Promise<unknown>;
}

/**
 * Lapses every claim in `_strata_writers` of `migrationsSchema` (the test's own Postgres schema,
 * where its L3 keeps Strata's tables), as 60 s without a write or a flush of the owner would: the
 * next app to write one of those tables takes it over. Nothing else is touched; no table yet, no-op.
 * Tests that run one app after another (two keyPrefixes) on one table call it between them. An
 * instance still open keeps trusting its own claim until it renews it (20 s; it waits for Postgres
 * only past 50 s): lapse claims of apps that are done writing, as a real lapse would find them.
 *
 * With `shared` (the test's Redis and the key root its apps' keyPrefixes start with), the claims
 * the apps' instances share through L2 (`{keyPrefix}:{table}:writer`, which a real lapse finds
 * expired: they end 10 s before the lease) go too. Pass it whenever an app may write the table
 * again after another app took it meanwhile: a new instance of the old app would otherwise trust
 * its old shared claim.
 * @example await lapseWriterClaims(pool, pgSchemaName, { redis, keyPrefix: pgSchemaName });
 */
export async function lapseWriterClaims(
  pool: Queryable,
  migrationsSchema: string,
  shared?: { redis: KeyedRedis; keyPrefix: string },
): Promise<void> {
  const table = `"${migrationsSchema.replaceAll('"', '""')}"._strata_writers`;
  try {
    await pool.query(`update ${table} set expires_at = now() - interval '1 second'`);
  } catch (err) {
    // undefined_table / invalid_schema_name: nothing was claimed there yet.
    const code = (err as { code?: unknown }).code;
    if (code !== '42P01' && code !== '3F000') throw err;
  }
  if (!shared) return;
  // A bucketed app's keys (`buckets` > 1) start with `{keyPrefix…#0}`.
  for (const pattern of [`${shared.keyPrefix}*:writer`, `{${shared.keyPrefix}*:writer`]) {
    const keys = await shared.redis.keys(pattern);
    if (keys.length > 0) await shared.redis.del(...keys);
  }
}
