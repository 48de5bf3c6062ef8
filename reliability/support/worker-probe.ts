import type { Strata } from '@strata/core';
import { dropScratchSchema, serviceUrls, testDevstack } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import pg from 'pg';

/**
 * What the Worker deploy probes share: the bindings a Worker gets from the devstack (its Upstash
 * and Neon endpoints over the real Redis and Postgres), an admin pool and a raw Redis client for
 * checks, and the cleanup of only what the probe made: its Strata instances, its Postgres schemas
 * and its keys under `name`.
 */
export function workerProbe(name: string) {
  const { upstash, neon } = testDevstack();
  const bindings = {
    UPSTASH_REDIS_REST_URL: upstash!.url,
    UPSTASH_REDIS_REST_TOKEN: upstash!.token,
    DATABASE_URL: neon.connectionString,
    NEON_FETCH_ENDPOINT: neon.httpUrl,
  };
  const admin = new pg.Pool({ connectionString: serviceUrls().databaseUrl, max: 2 });
  const raw = new Redis(serviceUrls().redisUrl, { lazyConnect: true });
  const built = new Set<Strata>();
  return {
    bindings,
    admin,
    raw,
    /** Closed at cleanup. */
    track(strata: Strata): Strata {
      built.add(strata);
      return strata;
    },
    async cleanUp(schemas: readonly string[] = [name]): Promise<void> {
      await Promise.allSettled([...built].map((s) => s.close()));
      for (const schema of schemas) await dropScratchSchema(admin, schema);
      await admin.end();
      const keys = await raw.keys(`${name}*`);
      if (keys.length > 0) await raw.del(...keys);
      raw.disconnect();
    },
  };
}
