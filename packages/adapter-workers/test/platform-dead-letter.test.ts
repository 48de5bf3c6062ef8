/**
 * Open (it.fails): a write the PLATFORM dead-letters keeps its cached copy. Past the consumer's
 * `max_retries`, Cloudflare moves a message to the `dead_letter_queue` itself, its body as sent (a
 * plain QueuedWrite): nothing in Strata sees that happen, so the acknowledged write's pending row stays
 * in L2 (kept a week), read by every isolate and laid over every search, while Postgres never gets it.
 * `handleWriteBatch` leaves a message to the platform when no Strata of the consumer flushes it
 * (`unroutable`: a table a newer producer deploy added, a tenant this consumer does not serve), when
 * sending a dead letter or a requeue fails, and, without `requeue`, in a Postgres outage longer than
 * the retries. Here the real Queue: the fixture's consumer registers no table of this name, so the
 * message is retried (2 + 4 + 8 s) and moved to `strata-test-wb-dlq` after `max_retries = 3`.
 *
 * Proposed fix: a dead-letter-queue consumer call, `withdrawDeadLetters(target, batch)` in
 * `@strata/adapter-workers/cloudflare`, routing each platform-moved body as `handleWriteBatch` does
 * (the producer app's Strata knows the table) to a core `Strata.withdrawQueued(deliveries)` that
 * withdraws each write's copies at its version as a Strata dead letter does (`engine/withdraw.ts`:
 * unless a newer write replaced them, or Postgres holds the key at that version or newer), then
 * acks; and `handleWriteBatch({ maxRetries })` to dead-letter an unroutable write itself at its
 * last delivery with the reason, instead of leaving it to the platform unexplained.
 */
import { env } from 'cloudflare:workers';
import { neon } from '@neondatabase/serverless';
import { uniqueName } from '@strata/devstack/testing';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { wbDeadKey, wbSchema, wbStrata } from './fixtures/wb-app.js';
import { upstashCommand } from './support/upstash-rest.js';
import { waitFor } from './support/write-behind.js';

// Not `wb_items_…`: the fixture's consumer has no Strata for it (a table only a newer producer knows).
const table = `wbx_orphan_${uniqueName('t')}`;
const keyPrefix = uniqueName('wbx_orphan');
const schema = wbSchema(table);
const pg = neon(env.DATABASE_URL);
const upstash = { url: env.UPSTASH_REDIS_REST_URL, token: env.UPSTASH_REDIS_REST_TOKEN };
const made: ReturnType<typeof wbStrata>[] = [];
const isolate = () => {
  const strata = wbStrata(env, { keyPrefix, schemas: [schema] });
  made.push(strata);
  return strata;
};

beforeAll(() => isolate().migrate());
afterAll(async () => {
  for (const strata of made) await strata.close();
  await pg.query(`drop table if exists "${table}"`);
  await pg.query('delete from _strata_versions where schema = $1', [table]);
  const keys = (await upstashCommand(upstash, ['KEYS', `${keyPrefix}:*`])) as string[];
  await upstashCommand(upstash, ['DEL', wbDeadKey(table), `${table}:wb-log`, ...keys]);
});

it.fails('a write the platform moved to the dead-letter queue leaves no copy that isolates read', async () => {
  await isolate().set(schema, { id: 'o1', name: 'never applied', level: 1 });
  const moved = await waitFor(
    'the platform moved o1 to the dead-letter queue',
    async () => {
      const bodies = (await upstashCommand(upstash, ['LRANGE', wbDeadKey(table), 0, -1])) as string[];
      return bodies.map((b) => JSON.parse(b) as { id?: string }).find((b) => b.id === 'o1');
    },
    40_000,
  );
  // The body as sent: the platform's move, not a Strata dead letter (`{ handle, write, reason }`).
  expect(moved).toMatchObject({ schema: table, id: 'o1', op: 'set', keyPrefix });

  expect(await pg.query(`select id from "${table}"`)).toEqual([]);
  const reader = isolate();
  // Fails here ("expected { id: 'o1', …(3) } to be null"): the acknowledged row, from L2.
  expect(await reader.find(schema, 'o1')).toBeNull();
  expect(await reader.search(schema)).toEqual([]);
}, 60_000);
