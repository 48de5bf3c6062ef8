import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { clusterBuckets, type defineSchema, type Strata, type StrataConfig } from '../src/index.js';
import { fourRouter } from './support/buckets.js';
import { modesFixture } from './support/modes-app.js';

// One app (one keyPrefix) writing one table in both modes at once: write-behind instances beside
// write-through ones (a rolling deploy switching `writeMode`, a write-through API beside a
// write-behind worker). Its write-through writes take versions in the order of its write-behind
// counter (`ThroughOrder`): a write acknowledged after another wins, in Postgres and every tier
// after the flush, whichever mode made either. Before, a write-through write after a queued
// write-behind write of its key took Postgres' `version + 1`, below the queued write's counter
// version, and the flush put the older value back.

const modes = modesFixture('modeswitch_modes');
const { app, inPostgres } = modes;

/** Scripts sent since the last reset (the bus's XADDs left out). */
const scripts = () => modes.stack.l2Commands.filter((c) => c.startsWith('evalsha'));

/**
 * 24 ids over the four buckets: the first in bucket 0, the rest taking the buckets in turn (so the
 * write-through instance's first write is of a bucket whose counter it knows before any write, from
 * the claim's generation read, and its next write also touches buckets it knows nothing of yet).
 */
function overBuckets(keyPrefix: string, s: ReturnType<typeof defineSchema>): string[] {
  const router = fourRouter(keyPrefix, s);
  const byBucket: string[][] = [[], [], [], []];
  for (let i = 0; byBucket.some((ids) => ids.length < 7); i++)
    byBucket[router.bucket(`k${i}`)]!.push(`k${i}`);
  return Array.from({ length: 24 }, (_, i) => byBucket[i % 4]![Math.floor(i / 4)]!);
}

/** Postgres, then each instance (its L1, L2 below it) and a new one (L2, then Postgres), for `ids`. */
async function expectEveryTier(
  readers: { strata: Strata; schema: ReturnType<typeof defineSchema> }[],
  expected: Record<string, number | undefined>,
) {
  for (const [id, n] of Object.entries(expected)) {
    expect(await inPostgres(id), `${id} in Postgres`).toBe(n);
    for (const [i, { strata, schema }] of readers.entries())
      expect(((await strata.find(schema, id)) as { n: number } | undefined)?.n, `${id} read by ${i}`).toBe(n);
  }
}

describe('one app writing a table write-behind and write-through at once', () => {
  for (const buckets of [1, 4]) {
    const bucketed: Partial<StrataConfig> = buckets > 1 ? { buckets, bucketing: clusterBuckets } : {};
    it(`buckets: ${buckets}: a write-through write after a queued write-behind write of its key wins, and a write-behind write after it wins in turn`, async () => {
      const { behind, through, instance, keyPrefix } = await app(`b${buckets}`, bucketed);
      const wb = instance(behind);
      const wt = instance(through);
      const ids =
        buckets > 1 ? overBuckets(keyPrefix, behind) : Array.from({ length: 24 }, (_, i) => `k${i}`);
      await wb.setMany(
        behind,
        ids.map((id) => ({ id, n: 1 })),
      );
      await wb.flushDirty();
      await wb.set(behind, { id: 'other', n: 1 }); // the counter moves on past the stored versions
      await wb.setMany(
        behind,
        ids.map((id) => ({ id, n: 2 })),
      ); // queued
      await wt.set(through, { id: ids[0]!, n: 3 });
      await wt.setMany(
        through,
        ids.slice(1, 12).map((id) => ({ id, n: 3 })),
      );
      await wt.deleteMany(through, ids.slice(12, 18));
      await wt.delete(through, ids[18]!);
      await wb.flushDirty();
      const fresh = instance(through);
      const readers = [
        { strata: wb, schema: behind },
        { strata: wt, schema: through },
        { strata: fresh, schema: through },
      ];
      const expected = (i: number) => (i < 12 ? 3 : i < 19 ? undefined : 2);
      await expectEveryTier(readers, Object.fromEntries(ids.map((id, i) => [id, expected(i)])));
      // A write-behind write after the write-through ones wins at its flush.
      await wb.setMany(
        behind,
        ids.slice(0, 15).map((id) => ({ id, n: 4 })),
      );
      await wb.flushDirty();
      await expectEveryTier(readers, Object.fromEntries(ids.map((id, i) => [id, i < 15 ? 4 : expected(i)])));
      for (const s of [wb, wt, fresh]) await s.close();
    });
  }

  // Redis restarted without its data (or evicted the app's keys) while a write-behind write waited in
  // a queue that kept it: the counter is gone, and Postgres' latest epoch is still the one the queued
  // write's version came from. A write-through write after it must still land above it.
  for (const knew of [true, false]) {
    it(`a write-through write after a queued write-behind write wins when Redis lost the counter (the write-through instance ${knew ? 'knew it' : 'is new'})`, async () => {
      const { behind, through, instance, keyPrefix } = await app(`lost${knew ? 'k' : 'n'}`);
      const wb = instance(behind);
      const wt = knew ? instance(through) : undefined;
      await wb.set(behind, { id: 'c1', n: 1 });
      await wb.flushDirty();
      if (wt) await wt.set(through, { id: 'c0', n: 1 }); // knows the counter (reserved from it)
      await wb.set(behind, { id: 'other', n: 1 }); // the counter moves on past c1's stored version + 1
      await wb.set(behind, { id: 'c1', n: 2 }); // queued
      const lost = await modes.stack.redis.keys(`${keyPrefix}:*`);
      await modes.stack.redis.del(...lost); // every key of the app: a Redis that restarted empty
      const writer = wt ?? instance(through);
      await writer.set(through, { id: 'c1', n: 3 });
      await wb.flushDirty();
      await expectEveryTier(
        [
          { strata: wb, schema: behind },
          { strata: writer, schema: through },
          { strata: instance(through), schema: through },
        ],
        { c1: 3 },
      );
      for (const s of [wb, writer]) await s.close();
    });
  }

  it('a transaction after a queued write-behind write of its keys wins after the flush', async () => {
    const { behind, through, instance } = await app('tx');
    const wb = instance(behind);
    const wt = instance(through);
    await wb.setMany(behind, [
      { id: 't1', n: 1 },
      { id: 't2', n: 1 },
    ]);
    await wb.flushDirty();
    await wb.set(behind, { id: 'other', n: 1 });
    await wb.setMany(behind, [
      { id: 't1', n: 2 },
      { id: 't2', n: 2 },
    ]); // queued
    await wt.tx().set(through, { id: 't1', n: 3 }).delete(through, 't2').commit();
    await wb.flushDirty();
    await expectEveryTier(
      [
        { strata: wb, schema: behind },
        { strata: wt, schema: through },
        { strata: instance(through), schema: through },
      ],
      { t1: 3, t2: undefined },
    );
    for (const s of [wb, wt]) await s.close();
  });

  // Was a KNOWN GAP (it.fails): the write-through set carried none of the columns of its key's write
  // still queued by the write-behind instances; that write is older, so its flush was refused, and
  // its columns were lost. It merges over them now (`overPending`; more cases in
  // write-modes-partial.test.ts).
  it("a write-through set leaving columns out keeps a queued write-behind write's other columns", async () => {
    const { behind, through, instance } = await app('partial');
    const wb = instance(behind);
    const wt = instance(through);
    await wb.set(behind, { id: 'p1', n: 1, note: 'old' });
    await wb.flushDirty();
    await wb.set(behind, { id: 'p1', n: 1, note: 'queued' }); // queued
    await wt.set(through, { id: 'p1', n: 2 }); // after it, note left out
    await wb.flushDirty();
    const [row] = await modes.stack.db.select().from(modes.items).where(eq(modes.items.id, 'p1'));
    expect(row).toEqual({ id: 'p1', n: 2, note: 'queued' });
    for (const s of [wb, wt]) await s.close();
  });

  it('an app with no write-behind counter makes no request more: one script after the statement; with one, one more before it', async () => {
    const { behind, through, instance } = await app('trips');
    const wt = instance(through);
    await wt.set(through, { id: 'r0', n: 1 }); // the first write (claim, generation, epoch learned)
    await wt.settled();
    modes.stack.reset();
    await wt.set(through, { id: 'r1', n: 1 });
    expect(scripts(), 'no counter').toEqual(['evalsha put']);
    expect(modes.stack.statementsOn('items'), 'no counter').toHaveLength(1);
    // The app starts writing the table write-behind: its counter takes a new epoch, which the next
    // write-through write's statement finds (refused, nothing written), so it asks the counter.
    const wb = instance(behind);
    await wb.set(behind, { id: 'r2', n: 1 });
    await wb.settled();
    modes.stack.reset();
    await wt.set(through, { id: 'r2', n: 2 });
    expect(scripts().filter((c) => c === 'evalsha reserve-through')).toHaveLength(2);
    await wt.settled();
    modes.stack.reset();
    await wt.set(through, { id: 'r3', n: 1 });
    expect(scripts(), 'with a counter').toEqual(['evalsha reserve-through', 'evalsha put']);
    expect(modes.stack.statementsOn('items'), 'with a counter').toHaveLength(1);
    await wb.flushDirty();
    expect(await inPostgres('r2')).toBe(2);
    for (const s of [wb, wt]) await s.close();
  });
});
