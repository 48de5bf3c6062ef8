// The capture trigger's own Postgres time, exact: `track_functions = pl` on the connection Strata
// writes through, read back from pg_stat_user_functions. Client-side ratios of a 1 ms write move
// by ±10 % with the machine's load; this is the cost itself.
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';

/** A one-connection Drizzle database whose session counts time spent in plpgsql functions. */
export function trackedDatabase(stack) {
  const pool = new pg.Pool({
    connectionString: stack.urls.databaseUrl,
    max: 1,
    options: '-c track_functions=pl',
  });
  pool.on('error', () => {});
  return { pool, db: drizzle(pool) };
}

/** The trigger function of `table` (`"schema"."table"`), as an oid. */
async function triggerFunction(stack, table) {
  const { rows } = await stack.pool.query(
    `select tgfoid::int as oid from pg_trigger where tgrelid = $1::regclass and tgname = '_strata_capture_insert'`,
    [table],
  );
  return rows[0]?.oid;
}

/**
 * Calls and milliseconds the trigger of `table` has run so far. A session flushes its counts when it
 * goes idle, before it answers, and `pg_stat_force_next_flush()` lifts the once-a-second limit on
 * that: once the call below has answered, the counts are in.
 */
export async function triggerTime(stack, tracked, table) {
  const oid = await triggerFunction(stack, table);
  await tracked.pool.query('select pg_stat_force_next_flush()');
  const { rows } = await stack.pool.query(
    'select calls::int, total_time::float8 as ms from pg_stat_user_functions where funcid = $1',
    [oid],
  );
  return rows[0] ?? { calls: 0, ms: 0 };
}
