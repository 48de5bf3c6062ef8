import { eq } from 'drizzle-orm';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { KeyRouter } from '../src/engine/buckets.js';
import { clusterBuckets, defineSchema, type Schema, type Strata, type StrataConfig } from '../src/index.js';
import { modesFixture } from './support/modes-app.js';

// One app (one keyPrefix) writing a table in both modes at once (see write-modes-one-app.test.ts):
// a write-through set that leaves columns out takes a version above the write-behind writes of its
// key still queued, whose flush is then refused as older. It merges over them (their queued
// columns; after a queued delete, a new row), read in the script that reserves its version
// (`overPending`), so none of their columns is lost. Before, Postgres got the set over its older
// row: the queued columns were lost, a queued delete undone.

const wideTable = (pg: string) =>
  pgSchema(pg).table('wide', {
    id: text('id').primaryKey(),
    n: integer('n'),
    a: text('a'),
    b: text('b'),
    c: text('c'),
  });
const modes = modesFixture('modeswitch_partial', wideTable);
const { app } = modes;

type WideRow = { id: string; n: number | null; a: string | null; b: string | null; c: string | null };

/** L2 requests since the last reset, the bus's XADDs left out. */
const requests = () => modes.stack.l2Commands.filter((c) => !c.includes('xadd'));

const full = (id: string, tag: string): WideRow => ({
  id,
  n: 1,
  a: `a-${tag}`,
  b: `b-${tag}`,
  c: `c-${tag}`,
});

/** Postgres, then each reader (its L1, L2 below it), for every id of `expected` (undefined: no row). */
async function expectEveryTier(
  readers: { strata: Strata; schema: Schema }[],
  expected: Record<string, WideRow | undefined>,
) {
  for (const [id, row] of Object.entries(expected)) {
    const [stored] = await modes.stack.db.select().from(modes.items).where(eq(modes.items.id, id));
    expect(stored, `${id} in Postgres`).toEqual(row);
    for (const [i, { strata, schema }] of readers.entries())
      expect(await strata.find(schema, id), `${id} read by ${i}`).toEqual(row);
  }
}

describe('a write-through set leaving columns out, over queued write-behind writes of its app', () => {
  for (const buckets of [1, 4]) {
    it(`buckets: ${buckets}: keeps the columns two queued sets gave, and a queued delete`, async () => {
      const bucketed: Partial<StrataConfig> = buckets > 1 ? { buckets, bucketing: clusterBuckets } : {};
      const { behind, through, instance, keyPrefix, close } = await app(`cols${buckets}`, bucketed);
      const wb = instance(behind);
      const wt = instance(through);
      // Four keys in each bucket: two to keep, two to delete.
      const router = new KeyRouter(keyPrefix, behind, 'json', buckets);
      const perBucket = Array.from({ length: buckets }, () => [] as string[]);
      for (let i = 0; perBucket.some((l) => l.length < 4); i++) {
        const list = perBucket[buckets > 1 ? router.bucket(`k${i}`) : 0]!;
        if (list.length < 4) list.push(`k${i}`);
      }
      const ids = perBucket.flat();
      await wb.setMany(
        behind,
        ids.map((id) => full(id, 'old')),
      );
      await wb.flushDirty();
      // Queued: two sets of other columns each for the first half, a delete for the second.
      const kept = perBucket.flatMap((l) => l.slice(0, 2));
      const gone = perBucket.flatMap((l) => l.slice(2));
      await wb.setMany(
        behind,
        kept.map((id) => ({ id, a: 'a-queued' })),
      );
      await wb.setMany(
        behind,
        kept.map((id) => ({ id, b: 'b-queued' })),
      );
      await wb.deleteMany(behind, gone);
      // After them, write-through, `a` and `b` left out.
      await wt.setMany(
        through,
        ids.map((id) => ({ id, n: 2, c: 'c-through' })),
      );
      const expected = Object.fromEntries(
        ids.map((id) => [
          id,
          kept.includes(id)
            ? { id, n: 2, a: 'a-queued', b: 'b-queued', c: 'c-through' }
            : { id, n: 2, a: null, b: null, c: 'c-through' },
        ]),
      );
      const readers = [
        { strata: wb, schema: behind },
        { strata: wt, schema: through },
      ];
      // Read before the flush too: the write-through instance's tiers hold the row Postgres has.
      await expectEveryTier([readers[1]!], expected);
      await wb.flushDirty();
      await expectEveryTier([...readers, { strata: instance(through), schema: through }], expected);
      await close();
    });
  }

  it('a set leaving columns out of a key with nothing queued is laid over the stored row, as before', async () => {
    const { behind, through, instance, close } = await app('nothing');
    const wb = instance(behind);
    const wt = instance(through);
    await wb.set(behind, full('q1', 'old'));
    await wb.flushDirty();
    await wb.set(behind, full('other', 'x')); // queued, another key
    await wt.set(through, { id: 'q1', a: 'a-through' });
    await wb.flushDirty();
    await expectEveryTier(
      [
        { strata: wb, schema: behind },
        { strata: wt, schema: through },
      ],
      { q1: { ...full('q1', 'old'), a: 'a-through' } },
    );
    await close();
  });

  it("a transaction's set leaving columns out keeps a queued write's columns; over a queued delete, a new row", async () => {
    const { behind, through, instance, close } = await app('tx');
    const wb = instance(behind);
    const wt = instance(through);
    await wb.setMany(behind, [full('t1', 'old'), full('t2', 'old'), full('t3', 'old')]);
    await wb.flushDirty();
    await wb.set(behind, { id: 't1', a: 'a-queued' });
    await wb.delete(behind, 't2');
    await wb.set(behind, { id: 't3', b: 'b-queued' });
    await wt
      .tx()
      .set(through, { id: 't1', c: 'c-tx' })
      .set(through, { id: 't2', n: 3, c: 'c-tx' })
      // Deleted, then set, by the transaction itself: a new row whatever is queued.
      .delete(through, 't3')
      .set(through, { id: 't3', n: 3 })
      .commit();
    await wb.flushDirty();
    await expectEveryTier(
      [
        { strata: wb, schema: behind },
        { strata: wt, schema: through },
        { strata: instance(through), schema: through },
      ],
      {
        t1: { ...full('t1', 'old'), a: 'a-queued', c: 'c-tx' },
        t2: { id: 't2', n: 3, a: null, b: null, c: 'c-tx' },
        t3: { id: 't3', n: 3, a: null, b: null, c: null },
      },
    );
    await close();
  });

  it('a write queued under another shape of the table (a rolling deploy) keeps its columns too', async () => {
    const { through, instance, close } = await app('shape');
    // The write-behind version caches `c` in no tier (another shape), and queued before the
    // write-through version started.
    const behind = defineSchema({
      name: 'wide',
      table: modes.items,
      writeMode: 'write-behind',
      fields: { c: { omitCache: true } },
    });
    const wb = instance(behind);
    await wb.set(behind, full('s1', 'old'));
    await wb.flushDirty();
    await wb.set(behind, { id: 's1', a: 'a-queued', c: 'c-queued' });
    const wt = instance(through);
    await wt.set(through, { id: 's1', b: 'b-through' });
    await wb.flushDirty();
    const [stored] = await modes.stack.db.select().from(modes.items).where(eq(modes.items.id, 's1'));
    expect(stored).toEqual({ id: 's1', n: 1, a: 'a-queued', b: 'b-through', c: 'c-queued' });
    await close();
  });

  it('makes no request more: none without a counter, none beside the reservation with one', async () => {
    const { behind, through, instance, close } = await app('trips');
    const wt = instance(through);
    await wt.set(through, full('r0', 'x')); // the first write (claim, generation, epoch learned)
    await wt.settled();
    modes.stack.reset();
    await wt.set(through, { id: 'r0', a: 'a1' });
    expect(requests(), 'no counter').toEqual(['evalsha put']);
    expect(modes.stack.statementsOn('wide'), 'no counter').toHaveLength(1);
    const wb = instance(behind);
    await wb.set(behind, { id: 'r0', b: 'b-queued' });
    await wt.set(through, full('r1', 'x')); // learns the counter (its epoch guard is refused once)
    await wt.settled();
    modes.stack.reset();
    await wt.set(through, { id: 'r0', c: 'c1' });
    expect(requests(), 'with a counter').toEqual(['evalsha reserve-through', 'evalsha put']);
    expect(modes.stack.statementsOn('wide'), 'with a counter').toHaveLength(1);
    await wb.flushDirty();
    const [stored] = await modes.stack.db.select().from(modes.items).where(eq(modes.items.id, 'r0'));
    expect(stored).toEqual({ id: 'r0', n: 1, a: 'a1', b: 'b-queued', c: 'c1' });
    await close();
  });
});
