/**
 * @strata/core inside workerd against the devstack: L2 over the Upstash REST endpoint (a real
 * Redis), L3 over Neon HTTP SQL (a real Postgres), with the bindings a deployed Worker would have.
 */
import { env } from 'cloudflare:workers';
import { neon, neonConfig } from '@neondatabase/serverless';
import { defineSchema, Strata } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { createUpstashL2 } from '@strata/core/upstash';
import { uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/neon-http';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, expect, it } from 'vitest';
import { upstashCommand } from './support/upstash-rest.js';

// In a deployed Worker this stays unset and `neon()` reaches Neon; here it is the local endpoint.
neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT;

const tableName = uniqueName('workerd_players');
const keyPrefix = uniqueName('workerd');
const players = pgTable(tableName, {
  id: text('id').primaryKey(),
  username: text('username').notNull(),
  level: integer('level').notNull().default(1),
});
const playerSchema = defineSchema({ table: players, l1: { ttl: '60s' }, l2: { ttl: '5m' } });

const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const instances: Strata[] = [];

/** A Strata as one isolate of a Worker builds it from its bindings: its own L1, shared L2 and L3. */
function isolateStrata(): Strata {
  const strata = new Strata({
    l2: createUpstashL2(upstash),
    l3: createDrizzleL3(drizzle(neon(env.DATABASE_URL))),
    schemas: [playerSchema],
    keyPrefix,
  });
  instances.push(strata);
  return strata;
}

afterAll(async () => {
  for (const strata of instances) await strata.close();
  await neon(env.DATABASE_URL).query(`drop table if exists "${tableName}"`);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
});

it('migrates, writes through to Postgres, reads from L1, and a fresh isolate reads from L2', async () => {
  const first = isolateStrata();
  await first.migrate();
  await first.set(playerSchema, { id: 'p1', username: 'andrew' });

  expect(await first.get(playerSchema, 'p1')).toEqual({ id: 'p1', username: 'andrew', level: 1 });
  expect(first.stats().hits.l1).toBe(1);

  const rows = await neon(env.DATABASE_URL).query(`select id, username, level from "${tableName}"`);
  expect(rows).toEqual([{ id: 'p1', username: 'andrew', level: 1 }]);

  const second = isolateStrata(); // empty L1, like a new isolate
  expect(await second.get(playerSchema, 'p1')).toEqual({ id: 'p1', username: 'andrew', level: 1 });
  const stats = second.stats();
  expect(stats.hits).toMatchObject({ l1: 0, l2: 1 });
  expect(stats.l3Reads).toBe(0);
  expect(stats.errors).toBe(0);
});
