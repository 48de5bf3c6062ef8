/**
 * Change capture in a Worker (`capture: { relay: changeRelay() }`), when the request that began
 * its shared work ends, as workerd ends it (its fetches cancelled, never settling; its timers
 * dropped): a poll riding on a call (`ChangeRelay.poll`, shared by every poll meanwhile), and the
 * capture's first `select current_schema()` (where its tables are, shared by the install check and
 * every read of the change log). A later request in the isolate must still answer, and its poll
 * apply a write made outside Strata. Each test builds a new isolate (createStrata per env object).
 */
import { env } from 'cloudflare:workers';
import { neon, neonConfig } from '@neondatabase/serverless';
import { changeRelay, defineSchema, type Strata } from '@strata/core';
import { changeCapture, drizzleMigrate } from '@strata/core/drizzle';
import { uniqueName } from '@strata/devstack/testing';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createStrata } from '../src/index.js';
import { installRequestApp } from './fixtures/request-app.js';
import { holdNext, request, wrapFetch } from './support/cut-short.js';
import { upstashCommand } from './support/upstash-rest.js';

neonConfig.fetchEndpoint = env.NEON_FETCH_ENDPOINT;
const sql = neon(env.DATABASE_URL);
const tableName = uniqueName('cut_capture');
const keyPrefix = uniqueName('cutcap');
const players = defineSchema({
  table: pgTable(tableName, {
    id: text('id').primaryKey(),
    level: integer('level').notNull(),
  }),
  l1: { ttl: '10m' },
  l2: { ttl: '10m' },
});
const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const built: Strata[] = [];
/** The Strata the requests share, as a Worker's module scope holds it. */
let strata: Strata;

function isolate(): Strata {
  const s = createStrata(
    { ...env },
    {
      schemas: [players],
      keyPrefix,
      changeCapture,
      drizzleMigrate,
      capture: { relay: changeRelay({ interval: '50ms' }) },
      timeouts: { l2: 300, l3: 1_000 },
    },
  );
  built.push(s);
  return s;
}

/** A write Strata does not make: what psql, a cron job or another service would do. */
const outsideUpdate = (id: string, level: number) =>
  sql.query(`update "${tableName}" set level = $1 where id = $2`, [level, id]);

let uninstall: () => void;
let unwrap: () => void;
beforeAll(async () => {
  const first = isolate();
  await first.migrate({ capture: true });
  // The app's first poll stores the cursor ("now"): a gap, nothing said what came before.
  expect(await first.relayChanges()).toMatchObject({ status: 'applied', gap: true });
  await sql.query(`insert into "${tableName}" (id, level) values ('p1', 1)`);
  unwrap = wrapFetch();
  uninstall = installRequestApp(async (req) => {
    const url = new URL(req.url);
    if (url.pathname === '/lead') {
      // A call whose poll (and install check) ride on it; answers once the fetch named is held.
      const held = holdNext(url.searchParams.get('hold') ?? '');
      void strata.find(players, 'x').catch(() => {});
      await held;
      return Response.json('left running');
    }
    if (url.pathname === '/check') return Response.json(await strata.capture.check());
    return Response.json(await strata.relayChanges());
  });
});
afterAll(async () => {
  uninstall?.();
  unwrap?.();
  await built[0]?.capture.remove();
  // Bounded: an instance's poll may be held by a fetch that never settles (as cancelled ones).
  for (const s of built) await Promise.race([s.close(), new Promise((r) => setTimeout(r, 2_000))]);
  await sql.query(`drop table if exists "${tableName}"`);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  if (keys.length > 0) await upstashCommand(upstash, ['DEL', ...keys]);
});

const applied = { status: 'applied', gap: false };

// A poll under way was shared by every poll meanwhile without a bound, relayChanges() included:
// held with the request that began it, no poll of the isolate ever answered or ran again.
it("a relay poll begun by a request that ended: the next request's relayChanges() polls and applies", async () => {
  strata = isolate();
  // Its take of the lease is held (never reaches Redis), then cut short.
  expect(await request('/lead?hold=:changes:lease"')).toBe('left running');
  await outsideUpdate('p1', 2);
  const outcome = await request('/relay');
  expect(outcome).toMatchObject(applied);
  expect((outcome as { changes: number }).changes).toBeGreaterThanOrEqual(1);
});

// Where the capture's tables are was asked once and shared by every later use without a bound: held
// with the request that asked, capture.check() never answered, and every read of the change log
// (within its own deadline) failed.
it("the capture's first current_schema() begun by a request that ended: check() and the relay answer", async () => {
  strata = isolate();
  expect(await request('/lead?hold=current_schema()')).toBe('left running');
  expect(await request('/check')).toEqual([
    { schema: players.name, installed: true, missing: [], ddl: 'event-trigger' },
  ]);
  await outsideUpdate('p1', 3);
  // The held poll took the lease in Redis before its read: busy until that lease lapses.
  await expect
    .poll(() => request('/relay'), { timeout: 8_000, interval: 100 })
    .toMatchObject({ status: 'applied' });
});
