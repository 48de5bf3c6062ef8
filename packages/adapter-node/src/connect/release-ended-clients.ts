/** What `releaseEndedClients` needs of a pool: pg-pool's events (`pg.Pool`, `@neondatabase/serverless`' Pool). */
export interface PoolEvents {
  on(event: 'connect' | 'acquire', listener: (client: PooledClient) => void): unknown;
  on(event: 'release', listener: (err: unknown, client: PooledClient) => void): unknown;
}

/** A client as pg-pool hands it out. */
export interface PooledClient {
  once(event: 'end', listener: () => void): unknown;
  release(err?: Error | boolean): void;
}

/**
 * Gives the pool back every client whose connection ended while it was checked out, as one that
 * failed (the pool drops it and opens another when asked). Drizzle's `db.transaction` on a pool
 * (node-postgres, neon-serverless) checks a client out, sends BEGIN, and releases the client in a
 * `finally` that a failed BEGIN never reaches: each connection cut at BEGIN kept a dead client
 * checked out for good, and after `max` of them every query waited for a client that never came
 * (Postgres up, L3 down until a restart, and `pool.end()` waiting for them:
 * reliability/test/regression-pool-begin-cut.test.ts). A borrower that releases the client later
 * (the usual `finally`) finds it released: its call does nothing. `createStrata` does this to the
 * pool it opens; call it on a pool you build for `createDrizzleL3(drizzle(pool))`.
 * @example
 * const pool = new pg.Pool({ connectionString });
 * releaseEndedClients(pool);
 * const l3 = createDrizzleL3(drizzle(pool));
 */
export function releaseEndedClients(pool: PoolEvents): void {
  const out = new Set<PooledClient>();
  pool.on('acquire', (client) => void out.add(client));
  pool.on('release', (_err, client) => void out.delete(client));
  pool.on('connect', (client) =>
    client.once('end', () => {
      if (!out.has(client)) return;
      const release = client.release;
      // pg-pool throws on a second release: the borrower's own, later, must do nothing.
      client.release = () => {};
      release.call(client, new Error('the connection ended while the client was checked out'));
    }),
  );
}
