/** What `dropScratchSchema` needs of a connection: a `pg.Pool` or `pg.Client`. */
export interface Queryable {
  query(text: string, values?: unknown[]): Promise<{ rows: unknown[] }>;
}

export interface DropScratchSchemaOptions {
  /** How long to wait for other sessions' locks in the schema to go (default 15 s). */
  readonly waitMs?: number;
}

const POLL_MS = 50;
/** The drop's own lock wait once the deadline passed: a last try, bounded. */
const MIN_LOCK_MS = 1_000;
const DEADLOCK = '40P01';
const LOCK_NOT_AVAILABLE = '55P03';

/**
 * Drops a Postgres schema a test created, after the sessions still holding locks in it are gone.
 * A fault test leaves such sessions behind: a connection cut or frozen mid-transaction by a proxy is
 * closed on the client's side at once, but its server backend runs its statement to the end (or
 * until it next touches the socket), holding its locks; a DROP SCHEMA that starts meanwhile
 * deadlocks with it (CI saw `deadlock detected`, 40P01, in a fault suite's cleanup). So: wait until
 * no other session holds a lock on a relation of the schema (bounded), then drop, and drop again if
 * Postgres still picked the drop as a deadlock's victim. Past `waitMs` it throws Postgres' error
 * (55P03, lock timeout) instead of waiting for ever.
 * @example await dropScratchSchema(pool, scratch.name);
 */
export async function dropScratchSchema(
  db: Queryable,
  schema: string,
  options: DropScratchSchemaOptions = {},
): Promise<void> {
  const deadline = Date.now() + (options.waitMs ?? 15_000);
  const quoted = `"${schema.replace(/"/g, '""')}"`;
  for (;;) {
    await othersGone(db, schema, deadline);
    try {
      // One simple query is one implicit transaction: SET LOCAL bounds this drop's wait alone.
      const lockMs = Math.max(deadline - Date.now(), MIN_LOCK_MS);
      await db.query(`set local lock_timeout = ${lockMs}; drop schema if exists ${quoted} cascade`);
      return;
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      if ((code !== DEADLOCK && code !== LOCK_NOT_AVAILABLE) || Date.now() > deadline) throw err;
    }
  }
}

/** Resolves once no other session holds a lock on a relation in `schema`, or at `deadline`. */
async function othersGone(db: Queryable, schema: string, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    const { rows } = await db.query(
      `select 1 from pg_locks l join pg_class c on c.oid = l.relation
         join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = $1 and l.pid <> pg_backend_pid() limit 1`,
      [schema],
    );
    if (rows.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}
