import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema, type L3Tier } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisLink } from '../support/deployment-link.js';
import { scratchApp } from '../support/scratch-app.js';
import { wrapL3 } from '../support/wrap-l3.js';

// Does a HARD generation move (a committed write L2 missed that cannot be sent again: more than
// 1,000 rows, or a drop, which keeps nothing to send) hide another instance's acknowledged,
// unflushed write-behind write? The move starts a new era (GENERATION_ERA), which orphans pending
// rows too (envelope.ts `isCurrent`), and after a missed write no writer puts its rows back (that
// happens after a Redis reset only: `restoreOwnPending`). A sets k (pending: Postgres has the older
// row); B, whose link alone to Redis is cut, commits a write L2 misses; the link comes back and B's
// next use moves the generation hard. Before any flush, B (at once), a new instance, and A (past
// its 5 s generation refresh; no L1 anywhere) read k: each must read A's acknowledged write.

/** Generations per era (`GENERATION_ERA`, packages/core/src/l2/envelope.ts): a hard move starts the next. */
const GENERATION_ERA = 2 ** 24;
const cols = { id: text('id').primaryKey(), n: integer('n').notNull() };
const closers: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

describe("a hard generation move and other instances' pending write-behind rows", () => {
  const scratch = scratchApp('probe_hard_move');
  const { pgName, redisUrl, raw, name } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  scratch.migrate(table);

  it.each([
    ['a transaction of 1,001 other rows (past the rows kept to send again)', 'tx', 'none', 2],
    ['a transaction that also sets k, newer than A’s write', 'tx', 'set', 3],
    ['a transaction that also deletes k, newer than A’s write', 'tx', 'delete', null],
    ['an invalidate (a drop keeps nothing to send again)', 'invalidate', 'none', 2],
  ] as const)(
    'B misses %s: every instance reads k as the flush will leave it',
    async (_what, how, ofK, expected) => {
      const schema = defineSchema({ name: 'items', table, writeMode: 'write-behind', l1: false });
      const link = await startRedisLink(Number(new URL(redisUrl).port || 6379), 1_000);
      closers.push(() => link.close());
      const viaProxy = link.client(redisUrl);
      closers.push(async () => viaProxy.disconnect());
      const keyPrefix = `${name}_${how}_${ofK}`;
      const channel = `${keyPrefix}:bus`;
      const bus = (redis?: typeof viaProxy) =>
        createRedisPubSubBus(redis ? { redis, channel } : { url: redisUrl, channel });

      // A's clock can be moved past its 5 s generation refresh (pending rows never expire).
      let ahead = 0;
      const a = scratch.strata({
        keyPrefix,
        schemas: [schema],
        coherence: { bus: bus() },
        clock: { now: () => Date.now() + ahead },
      });
      // B's L3 cuts B's link to Redis right after Postgres committed its transaction.
      let cutAfterCommit = false;
      const l3 = createDrizzleL3(scratch.db, { migrationsSchema: pgName });
      const bL3: L3Tier = wrapL3(l3, {
        write: async (ops) => {
          const outcome = await l3.write(ops);
          if (cutAfterCommit) {
            cutAfterCommit = false;
            const reconnecting = link.reconnecting();
            link.cut();
            await reconnecting;
          }
          return outcome;
        },
      });
      const b = scratch.strata({
        keyPrefix,
        schemas: [schema],
        l2: createIoredisL2(viaProxy),
        l3: bL3,
        coherence: { bus: bus(viaProxy) },
        timeouts: { l2: '300ms' },
      });
      // k: Postgres has n = 1, A's acknowledged write n = 2 is pending. `added`: A's pending insert.
      const [k, added] = [`k-${how}-${ofK}`, `added-${how}-${ofK}`];
      await a.set(schema, { id: k, n: 1 });
      await a.flushDirty();
      await a.set(schema, { id: k, n: 2 });
      await a.set(schema, { id: added, n: 7 });
      expect(await scratch.n(k), 'Postgres still has the older row').toBe(1);
      for (const s of [a, b]) expect((await s.get(schema, k)).n).toBe(2);

      const errors = b.stats().errorsBy.l2 ?? 0;
      if (how === 'tx') {
        cutAfterCommit = true;
        const tx = b.tx();
        for (let i = 0; i <= 1_000; i++) tx.set(schema, { id: `x${i}-${ofK}`, n: i });
        if (ofK === 'set') tx.set(schema, { id: k, n: 3 });
        if (ofK === 'delete') tx.delete(schema, k);
        await tx.commit();
        expect(await scratch.n(`x1000-${ofK}`)).toBe(1_000);
      } else {
        const reconnecting = link.reconnecting();
        link.cut();
        await reconnecting;
        await b.invalidate(schema, 'other');
      }
      expect(b.stats().errorsBy.l2, "B's L2 missed the write").toBeGreaterThan(errors);
      link.heal();
      await link.ready(10_000);

      // B's next use moves the generation hard (a new era), then reads k.
      const fromB = [await b.find(schema, k), await b.find(schema, added)];
      expect(await generation(), 'the move was hard').toBeGreaterThanOrEqual(GENERATION_ERA);
      expect(await scratch.n(k), 'nothing flushed meanwhile').toBe(
        ofK === 'none' ? 1 : ofK === 'set' ? 3 : undefined,
      );
      const fresh = scratch.strata({ keyPrefix, schemas: [schema] });
      const fromNew = [await fresh.find(schema, k), await fresh.find(schema, added)];
      ahead = 6_000;
      const fromA = [await a.find(schema, k), await a.find(schema, added)];
      const seen = (rows: ({ n: number } | null)[]) => rows.map((r) => r?.n ?? null);
      expect(
        { b: seen(fromB), new: seen(fromNew), a: seen(fromA) },
        "every instance reads A's acknowledged writes, unless a newer commit L2 missed replaced them",
      ).toEqual({ b: [expected, 7], new: [expected, 7], a: [expected, 7] });
      // The flush leaves Postgres so (A's write of k refused where the transaction's was newer).
      await a.flushDirty();
      expect(await scratch.n(k)).toBe(expected ?? undefined);
      expect(await scratch.n(added)).toBe(7);
      expect((await fresh.find(schema, k))?.n ?? null).toBe(expected);

      async function generation(): Promise<number> {
        const [key] = await raw.keys(`${keyPrefix}:*.items:gen`);
        return Number(await raw.get(key!));
      }
    },
  );
});
