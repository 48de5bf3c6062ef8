import { integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { defineSchema } from '../src/schema/define-schema.js';
import { MALICIOUS } from './l3-conformance-model.js';
import { type L3Suite, loggedSince, readRows, set, writeOne } from './l3-conformance-suite.js';

const STAMP = new Date('2021-01-01T00:00:00.000Z');

/** The table of the replaceValues tests, in `schemaName`. */
function replaceModel(schemaName: string) {
  return defineSchema({
    table: pgSchema(schemaName).table('r_items', {
      id: text('id').primaryKey(),
      secret: text('secret'),
      other: text('other'),
      n: integer('n').notNull().default(0),
      updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }),
    }),
    fields: { updatedAt: { autoNow: true } },
  });
}

/** replaceValues(): compare-and-set UPDATEs of chosen columns (key rotation's write). */
export function registerReplaceTests(suite: L3Suite): void {
  const l3 = () => suite.l3();
  const items = replaceModel(suite.schemaName);
  const rows = (ids: readonly string[]) => readRows(l3(), items, ids);

  describe('replaceValues', () => {
    beforeAll(async () => {
      await l3().migrate([items]);
      await writeOne(
        l3(),
        items,
        set({ id: 'r1', secret: 'old1', other: 'o1', n: 1, updatedAt: STAMP }),
        set({ id: 'r2', secret: 'old2', other: 'o2', n: 2, updatedAt: STAMP }),
        set({ id: 'r3', secret: null, other: 'o3', n: 3, updatedAt: STAMP }),
      );
    });

    it('an empty call sends nothing', async () => {
      const mark = suite.log.length;
      expect(await l3().replaceValues(items, [])).toEqual([]);
      expect(suite.log.length).toBe(mark);
    });

    it('sets only the given columns, only where the expected values still hold', async () => {
      const changed = await l3().replaceValues(items, [
        { id: 'r1', expect: { secret: 'old1' }, set: { secret: 'new1' } },
        { id: 'r2', expect: { secret: 'stale' }, set: { secret: 'lost' } },
        { id: 'r3', expect: { secret: null }, set: { secret: 'filled' } },
        { id: 'nope', expect: { secret: 'x' }, set: { secret: 'y' } },
      ]);
      expect([...changed].sort()).toEqual(['r1', 'r3']);
      expect(await rows(['r1', 'r2', 'r3', 'nope'])).toEqual([
        { id: 'r1', secret: 'new1', other: 'o1', n: 1, updatedAt: STAMP },
        { id: 'r2', secret: 'old2', other: 'o2', n: 2, updatedAt: STAMP },
        { id: 'r3', secret: 'filled', other: 'o3', n: 3, updatedAt: STAMP },
      ]);
    });

    it('binds values as parameters and refuses unknown or key columns before any SQL', async () => {
      const mark = suite.log.length;
      expect(
        await l3().replaceValues(items, [
          { id: 'r2', expect: { secret: 'old2' }, set: { secret: MALICIOUS } },
        ]),
      ).toEqual(['r2']);
      for (const s of loggedSince(suite, mark)) expect(s.query).not.toContain('DROP TABLE');
      expect((await rows(['r2']))[0]?.secret).toBe(MALICIOUS);
      const before = suite.log.length;
      for (const set of [{ nope: 'x' }, { id: 'r9' }, { 'secret" = 1; --': 'x' }]) {
        await expect(l3().replaceValues(items, [{ id: 'r2', expect: {}, set }])).rejects.toThrow();
      }
      expect(suite.log.length).toBe(before);
    });

    it('is all or nothing across the rows of one call', async () => {
      const failed = l3().replaceValues(items, [
        { id: 'r1', expect: { secret: 'new1' }, set: { secret: 'partial' } },
        { id: 'r2', expect: {}, set: { n: 'not a number' } },
      ]);
      await expect(failed).rejects.toThrow();
      expect((await rows(['r1']))[0]?.secret).toBe('new1');
    });
  });
}
