import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { Redis } from 'ioredis';
import pg from 'pg';

/**
 * A test file's own corner of the real services: a unique name for its Postgres schema and Redis
 * keys, a pool and a Drizzle db over it, and a cleanup that drops the schema and deletes the keys.
 */
export function scratch(label: string, logQuery?: (query: string) => void) {
  const name = uniqueName(label);
  const { redisUrl, databaseUrl } = serviceUrls();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  pool.on('error', () => {});
  const db = drizzle(pool, logQuery ? { logger: { logQuery } } : {});
  return {
    name,
    redisUrl,
    databaseUrl,
    pool,
    db,
    async cleanup() {
      await db.execute(sql.raw(`drop schema if exists "${name}" cascade`));
      const redis = new Redis(redisUrl, { lazyConnect: true });
      redis.on('error', () => {});
      const keys = await redis.keys(`${name}*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await pool.end();
    },
  };
}
