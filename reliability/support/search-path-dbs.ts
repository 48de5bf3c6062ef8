import { serviceUrls } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';

/**
 * Drizzle databases whose sessions resolve unqualified names in one Postgres schema each (tenants
 * by search_path); `end` closes every pool made.
 */
export function searchPathDbs() {
  const { databaseUrl } = serviceUrls();
  const pools: pg.Pool[] = [];
  return {
    /** A database on its own small pool whose search_path is `schema`. */
    db(schema: string) {
      const pool = new pg.Pool({
        connectionString: databaseUrl,
        max: 3,
        options: `-c search_path=${schema}`,
      });
      pool.on('error', () => {});
      pools.push(pool);
      return drizzle({ client: pool });
    },
    end: () => Promise.allSettled(pools.splice(0).map((p) => p.end())),
  };
}
