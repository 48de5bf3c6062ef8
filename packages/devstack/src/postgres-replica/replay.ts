import pg from 'pg';
import { PostgresReplicaError } from './error.js';

/** A client of one server of the pair, for the pair's own housekeeping queries. */
export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  // An idle disconnect (the server stopping) must not become an uncaught error.
  client.on('error', () => {});
  await client.connect();
  return client;
}

/**
 * Resolves once the replica streams from the primary and has replayed all the primary had written
 * when this was called; throws NOT_READY with what it last saw once `deadline` (a `Date.now()`
 * value) has passed. There is no event for replay catching up that a client can await: it polls,
 * every 20 ms, bounded by the deadline.
 */
export async function waitForReplay(primaryUrl: string, replicaUrl: string, deadline: number): Promise<void> {
  const primary = await connect(primaryUrl);
  let replica: pg.Client | undefined;
  let last = 'no answer yet';
  try {
    const { rows } = await primary.query<{ lsn: string }>('select pg_current_wal_lsn()::text as lsn');
    const target = rows[0]!.lsn;
    while (Date.now() < deadline) {
      try {
        replica ??= await connect(replicaUrl);
        const seen = await replica.query<{ status: string | null; replayed: string | null; caught: boolean }>(
          `select (select status from pg_stat_wal_receiver) as status,
                  pg_last_wal_replay_lsn()::text as replayed,
                  coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false) as caught`,
          [target],
        );
        const { status, replayed, caught } = seen.rows[0]!;
        if (status === 'streaming' && caught) return;
        last = `receiver ${status}, replayed ${replayed}, primary at ${target}`;
      } catch (err) {
        last = String(err);
        await replica?.end().catch(() => {});
        replica = undefined;
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new PostgresReplicaError('NOT_READY', `the replica did not catch up in time; last: ${last}`);
  } finally {
    await primary.end().catch(() => {});
    await replica?.end().catch(() => {});
  }
}
