import { eq, sql } from 'drizzle-orm';
import { beforeAll, describe, expect, it } from 'vitest';
import { EPOCH_SPAN } from '../src/l3/epoch-span.js';
import { del, type L3Suite, set, versionsOf, writeOne } from './l3-conformance-suite.js';
import { expectVersions, type VersionsModel } from './l3-conformance-versions-model.js';

/** Postgres-ordered versions, what reads return of them, `_strata_versions` on the fly, epochs. */
export function registerVersionTests(suite: L3Suite, v: VersionsModel): void {
  const l3 = () => suite.l3();
  const all = { limit: 1_000, offset: 0 };
  const dropVersions = async () => {
    const db = suite.db()!;
    await db.execute(
      sql`drop table ${sql.identifier(suite.schemaName)}.${sql.identifier('_strata_versions')}`,
    );
  };

  describe('versions', () => {
    beforeAll(async () => {
      await l3().migrate([v.items, v.counts, v.bulk, v.blobs, v.tokens]);
    });

    it('creates _strata_versions when it is missing, for reads, writes and epochs alike', async (ctx) => {
      if (!suite.db()) return ctx.skip();
      await dropVersions();
      expect(await l3().findMany(v.items, ['lazy'])).toEqual([]);
      await dropVersions();
      expect(await writeOne(l3(), v.items, set({ id: 'lazy', name: 'L' }))).toEqual([
        { applied: true, version: 1, row: expect.objectContaining({ id: 'lazy', note: 'dflt' }) },
      ]);
      await expectVersions(suite, v.items, ['lazy'], { lazy: [1, false] });
      await dropVersions();
      expect(await l3().search(v.items, all)).toEqual([
        { row: expect.objectContaining({ id: 'lazy' }), version: 0 },
      ]);
      await dropVersions();
      expect(await l3().nextEpoch(v.items)).toBe(1);
      await dropVersions();
      expect(await l3().scan(v.items, { limit: 10 })).toHaveLength(1);
      await dropVersions();
      // Several statements in one transaction (a batch on neon-http): two shapes and a delete.
      const outcomes = await writeOne(
        l3(),
        v.items,
        set({ id: 'lazy', name: 'L2' }),
        set({ id: 'l2', name: 'x', n: 1 }),
        del('l3'),
      );
      expect(outcomes.map((o) => [o.applied, o.version])).toEqual([
        [true, 1],
        [true, 1],
        [true, 1],
      ]);
      await writeOne(l3(), v.items, del('lazy'), del('l2'));
    });

    it('Postgres-ordered writes get 1, 2, 3… per key; a delete records a tombstone and the next set goes on from it', async () => {
      const versions = async (...writes: Parameters<typeof set>[0][]) =>
        (await writeOne(l3(), v.items, ...writes.map((row) => set(row)))).map((o) => o.version);
      expect(await versions({ id: 'p1', name: 'a' }, { id: 'p2', name: 'a' })).toEqual([1, 1]);
      expect(await versions({ id: 'p1', name: 'b' })).toEqual([2]);
      expect(await versions({ id: 'p1', name: 'c', n: 3 }, { id: 'p3', name: 'a' })).toEqual([3, 1]);
      expect(await writeOne(l3(), v.items, del('p1'))).toEqual([
        { applied: true, version: 4, existed: true },
      ]);
      await expectVersions(suite, v.items, ['p1', 'p2', 'p3'], {
        p1: [4, true],
        p2: [1, false],
        p3: [1, false],
      });
      expect(await l3().findMany(v.items, ['p1'])).toEqual([]);
      expect(await writeOne(l3(), v.items, del('p1'))).toEqual([
        { applied: true, version: 5, existed: false },
      ]);
      const [back] = await writeOne(l3(), v.items, set({ id: 'p1', name: 'back' }));
      expect(back).toMatchObject({ applied: true, version: 6, row: { id: 'p1', name: 'back', n: null } });
      await expectVersions(suite, v.items, ['p1'], { p1: [6, false] });
    });

    it('reads return the stored version with each row: findMany, scan and search', async () => {
      expect(versionsOf(await l3().findMany(v.items, ['p1', 'p2', 'p3', 'nope']))).toEqual([
        ['p1', 6],
        ['p2', 1],
        ['p3', 1],
      ]);
      const scanned = await l3().scan(v.items, { after: 'p', limit: 3 });
      expect(scanned.map((s) => [s.row.id, s.version])).toEqual([
        ['p1', 6],
        ['p2', 1],
        ['p3', 1],
      ]);
      const found = await l3().search(v.items, {
        where: eq(v.items.primaryKey.column, 'p1'),
        fields: ['name'],
        ...all,
      });
      expect(found).toEqual([{ row: { name: 'back' }, version: 6 }]);
    });

    it('a row Strata never wrote reads as version 0; its first write gets version 1', async (ctx) => {
      const db = suite.db();
      if (!db) return ctx.skip();
      await db.insert(v.items.table).values({ id: 'raw', name: 'inserted by SQL' } as never);
      expect(await l3().findMany(v.items, ['raw'])).toEqual([
        { row: expect.objectContaining({ id: 'raw' }), version: 0 },
      ]);
      expect(await l3().exists(v.items, 'raw')).toBe(true);
      expect((await writeOne(l3(), v.items, set({ id: 'raw', name: 'now by Strata' })))[0]?.version).toBe(1);
      expect(versionsOf(await l3().findMany(v.items, ['raw']))).toEqual([['raw', 1]]);
    });

    it('keys are versioned as Postgres prints them: a uuid in any case is one key', async () => {
      const upper = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11';
      const lower = upper.toLowerCase();
      expect(await writeOne(l3(), v.tokens, set({ id: upper, n: 1 }))).toEqual([
        { applied: true, version: 1, row: { id: lower, n: 1 } },
      ]);
      // In one call, both spellings are the same key: the last wins.
      const outcomes = await writeOne(l3(), v.tokens, set({ id: lower, n: 2 }), set({ id: upper, n: 3 }));
      expect(outcomes.map((o) => [o.applied, o.version])).toEqual([
        [false, 0],
        [true, 2],
      ]);
      // Several statements (two shapes): the same keys.
      const [tokens] = await l3().write([
        { schema: v.tokens, writes: [set({ id: upper }), del(upper.replace('A0', 'B0'))] },
      ]);
      expect(tokens?.map((o) => o.version)).toEqual([3, 1]);
      expect(await l3().findMany(v.tokens, [upper])).toEqual([{ row: { id: lower, n: 3 }, version: 3 }]);
      expect(await writeOne(l3(), v.tokens, del(upper))).toEqual([
        { applied: true, version: 4, existed: true },
      ]);
    });

    it('nextEpoch: 1 for a schema without versions, then always greater', async () => {
      expect(await l3().nextEpoch(v.bulk)).toBe(1);
      expect(await l3().nextEpoch(v.bulk)).toBe(2);
      expect(await l3().nextEpoch(v.bulk)).toBe(3);
      // Per schema: another schema's epochs are its own.
      const first = await l3().nextEpoch(v.tokens);
      expect(first).toBe(1);
      expect(await l3().nextEpoch(v.bulk)).toBe(4);
      // An epoch is no row's version: Postgres-ordered versions and reads are untouched by it.
      expect((await writeOne(l3(), v.bulk, set({ id: 1, a: 'a' })))[0]?.version).toBe(1);
      expect(versionsOf(await l3().findMany(v.bulk, [1]))).toEqual([[1, 1]]);
      await writeOne(l3(), v.bulk, del(1));
    });

    it('nextEpoch goes past max(version) / EPOCH_SPAN of the schema when versions already exist', async () => {
      const version = 3 * EPOCH_SPAN + 5;
      expect(await writeOne(l3(), v.counts, set({ id: 1, total: 1n }, version))).toEqual([
        { applied: true, version, row: { id: 1, total: 1n, by: null } },
      ]);
      const epoch = await l3().nextEpoch(v.counts);
      expect(epoch).toBe(4);
      expect(epoch * EPOCH_SPAN).toBeGreaterThan(version);
      const concurrent = await Promise.all([l3().nextEpoch(v.counts), l3().nextEpoch(v.counts)]);
      expect(concurrent.sort((a, b) => a - b)).toEqual([5, 6]);
      // A newer version far past the last epoch moves the next one past it.
      await writeOne(l3(), v.counts, set({ id: 2, total: 2n }, 9 * EPOCH_SPAN));
      expect(await l3().nextEpoch(v.counts)).toBe(10);
      await writeOne(l3(), v.counts, del(1, 11 * EPOCH_SPAN), del(2, 11 * EPOCH_SPAN));
      expect(await l3().nextEpoch(v.counts)).toBe(12);
    });
  });
}
