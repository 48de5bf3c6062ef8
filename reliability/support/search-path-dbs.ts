import { serviceUrls } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';

/**
 * Drizzle databases whose sessions resolve unqualified names in one Postgres schema each (tenants
 * by search_path), one small pool per schema however many instances ask (an instance per call
 * used to open a pool each, held to the end: the suite ran Postgres out of connections, 53300);
 * `end` closes them.
 */
export function searchPathDbs() {
  const { databaseUrl } = serviceUrls();
  const pools: pg.Pool[] = [];
  const made = new Map<string, ReturnType<typeof drizzle>>();
  return {
    /** The database, on a small pool of its own, whose search_path is `schema`. */
    db(schema: string) {
      const known = made.get(schema);
      if (known) return known;
      const pool = new pg.Pool({
        connectionString: databaseUrl,
        max: 3,
        options: `-c search_path=${schema}`,
      });
      pool.on('error', () => {});
      pools.push(pool);
      const db = drizzle({ client: pool });
      made.set(schema, db);
      return db;
    },
    end: () => {
      made.clear();
      return Promise.allSettled(pools.splice(0).map((p) => p.end()));
    },
  };
}
