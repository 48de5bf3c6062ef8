import pg from 'pg';
import type { BackingPostgres } from './backing.js';

/** Who a Neon HTTP request connects as; the host and port always come from the backing server. */
export interface Credentials {
  user: string;
  password: string | undefined;
  database: string;
  /** From `?application_name=` (neon() adds its package name): shows in pg_stat_activity. */
  applicationName?: string;
}

export interface PoolRegistry {
  /** The pool for these credentials, created on first use. */
  get(credentials: Credentials): pg.Pool;
  /** Ends every pool; in-use clients end when released. */
  close(): Promise<void>;
}

/**
 * One `pg.Pool` per (user, password, database, application name) against the backing server. The
 * password is part of the key so a pool opened with one password never serves a request carrying another.
 * @example
 * const pools = createPoolRegistry(parseBackingUrl(url), 10);
 * await pools.get({ user: 'postgres', password: undefined, database: 'test' }).query('select 1');
 */
export function createPoolRegistry(backing: BackingPostgres, maxConnections: number): PoolRegistry {
  const pools = new Map<string, pg.Pool>();
  let closed = false;
  return {
    get(credentials) {
      if (closed) throw new Error('the Neon endpoint is stopping');
      const key = JSON.stringify([
        credentials.user,
        credentials.password ?? null,
        credentials.database,
        credentials.applicationName ?? null,
      ]);
      let pool = pools.get(key);
      if (!pool) {
        pool = new pg.Pool({
          host: backing.host,
          port: backing.port,
          user: credentials.user,
          database: credentials.database,
          ...(credentials.password !== undefined && { password: credentials.password }),
          ...(credentials.applicationName !== undefined && { application_name: credentials.applicationName }),
          max: maxConnections,
          idleTimeoutMillis: 30_000,
          // Idle pooled connections must not keep a process alive that is otherwise done.
          allowExitOnIdle: true,
        });
        // An idle client losing its connection (server restart, pg_terminate_backend) emits `error`
        // on the pool; without a listener that would crash the process. The next query reconnects.
        pool.on('error', () => {});
        pools.set(key, pool);
      }
      return pool;
    },
    async close() {
      closed = true;
      const all = [...pools.values()];
      pools.clear();
      await Promise.all(all.map((pool) => pool.end().catch(() => {})));
    },
  };
}
