/**
 * Read-your-writes on a read replica (`replicas: readYourWrites`) in a Worker: a read routed to the
 * replica first reads how far it has replayed, once for all the reads that need it meanwhile
 * (replica-reads.ts). Here the request that sent that position read ends with it held, as workerd
 * cancels the fetches of a request that ended; a later request's read must still answer.
 *
 * The "replica" is a second Drizzle L3 over the same Postgres (Neon HTTP): workerd cannot start a
 * standby, and the hang needs none. Its position is the primary's, so once read it is caught up.
 */
import { env } from 'cloudflare:workers';
import { neon, neonConfig } from '@neondatabase/serverless';
import { defineSchema, type Strata } from '@strata/core';
import { createDrizzleL3, drizzleMigrate, readYourWrites } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/neon-http';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStrata } from '../src/index.js';
import { installRequestApp } from './fixtures/request-app.js';
import { holdNext, request, wrapFetch } from './support/cut-short.js';
import { upstashCommand } from './support/upstash-rest.js';

neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT;
const sql = neon(env.DATABASE_URL);
const tableName = uniqueName('cut_replica');
const keyPrefix = uniqueName('cutrep');
const replica = createDrizzleL3(drizzle(neon(env.DATABASE_URL)));
const items = defineSchema({
  table: pgTable(tableName, {
    id: text('id').primaryKey(),
    level: integer('level').notNull(),
  }),
  l3: { readReplica: replica },
});
const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
/** The Strata the requests share, as a Worker's module scope holds it. */
let strata: Strata;

let uninstall: () => void;
let unwrap: () => void;
beforeAll(async () => {
  strata = createStrata(
    { ...env },
    {
      schemas: [items],
      keyPrefix,
      drizzleMigrate,
      replicas: readYourWrites,
      timeouts: { l2: 300, l3: 1_000 },
    },
  );
  await strata.migrate();
  unwrap = wrapFetch();
  uninstall = installRequestApp(async (req) => {
    const url = new URL(req.url);
    const id = url.searchParams.get('id') ?? '';
    if (url.pathname === '/set') {
      await strata.set(items, { id, level: Number(url.searchParams.get('level')) });
      return Response.json('written');
    }
    if (url.pathname === '/lead') {
      // A count routed to the replica: its position read is held, then cut short.
      const held = holdNext('pg_is_in_recovery');
      void strata.count(items).catch(() => {});
      await held;
      return Response.json('left running');
    }
    return Response.json(await strata.count(items));
  });
});
afterAll(async () => {
  uninstall?.();
  unwrap?.();
  // Bounded: its position read may be held by a fetch that never settles (as cancelled ones).
  await Promise.race([strata?.close(), new Promise((r) => setTimeout(r, 2_000))]);
  await sql.query(`drop table if exists "${tableName}"`);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
});

// The replica's position read in flight (`r.check`) was shared by the reads that needed it without
// a bound: held with the request that sent it, it held every later read routed to the replica.
it("the replica's position read begun by a request that ended: the next request's read answers", async () => {
  expect(await request('/set?id=a&level=1')).toBe('written'); // notes the primary's position
  expect(await request('/lead')).toBe('left running');
  expect(await request('/count')).toBe(1);
  expect(await request('/set?id=b&level=2')).toBe('written');
  expect(await request('/count')).toBe(2); // read your writes, the replica read again
});
