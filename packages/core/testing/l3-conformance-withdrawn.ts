import { eq, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { rowsOf } from '../src/drizzle/rows.js';
import { del, type L3Suite, op, readRows, set, writeOne } from './l3-conformance-suite.js';
import { expectVersions, type VersionsModel } from './l3-conformance-versions-model.js';

const AT = new Date('2024-04-04T04:04:04.004Z');

/**
 * `withdraw`: Redis-ordered writes recorded as never to be applied (a write-behind dead letter),
 * which a Redis gone back to an older snapshot can bring back (its pending row, its queue message).
 * The flush's write refuses them, and so do reads that lay pending writes over the table.
 */
export function registerWithdrawnTests(suite: L3Suite, v: VersionsModel): void {
  const l3 = () => suite.l3();
  const items = (ids: readonly string[]) => readRows(l3(), v.items, ids);
  const withdraw = (id: string, version: number) => l3().withdraw!(v.items, [{ id, version }]);
  const row = (id: string, name: string) => ({ id, name, createdAt: AT });

  describe('withdrawn writes', () => {
    it('a withdrawn version is not applied, alone or in a transaction; other versions of the key are', async () => {
      if (!l3().withdraw) return;
      await writeOne(l3(), v.items, set(row('w1', 'first'), 400));
      await withdraw('w1', 402);
      expect(await writeOne(l3(), v.items, set(row('w1', 'withdrawn'), 402))).toEqual([
        { applied: false, version: 402 },
      ]);
      const [withdrawn, counted] = await l3().write([
        op(v.items, set(row('w1', 'withdrawn'), 402)),
        op(v.counts, set({ id: 9401, total: 1n }, 402)),
      ]);
      expect({ withdrawn, counted }).toEqual({
        withdrawn: [{ applied: false, version: 402 }],
        counted: [expect.objectContaining({ applied: true, version: 402 })],
      });
      expect(await writeOne(l3(), v.items, del('w1', 402))).toEqual([{ applied: false, version: 402 }]);
      expect((await items(['w1']))[0]?.name).toBe('first');
      // An older write of the key still retrying is not refused, nor is a newer one.
      expect(await writeOne(l3(), v.items, set(row('w1', 'older'), 401))).toEqual([
        expect.objectContaining({ applied: true, version: 401 }),
      ]);
      expect(await writeOne(l3(), v.items, set(row('w1', 'newer'), 403))).toEqual([
        expect.objectContaining({ applied: true, version: 403 }),
      ]);
      await expectVersions(suite, v.items, ['w1'], { w1: [403, false] });
    });

    it('a fold whose writes span a withdrawn version is not applied (its writes go one by one)', async () => {
      if (!l3().withdraw) return;
      await writeOne(l3(), v.items, set(row('w2', 'first'), 410));
      await withdraw('w2', 412);
      const fold = (since: number, version: number) => ({ row: row('w2', 'fold'), version, since });
      expect(await l3().write([op(v.items, fold(411, 414))])).toEqual([[{ applied: false, version: 414 }]]);
      expect((await items(['w2']))[0]?.name).toBe('first');
      expect(await l3().write([op(v.items, fold(413, 414))])).toEqual([
        [expect.objectContaining({ applied: true, version: 414 })],
      ]);
    });

    it('reads over pending writes leave a withdrawn one out: findMany says so, search and count lay none', async () => {
      if (!l3().withdraw) return;
      await writeOne(l3(), v.items, set(row('w3', 'stored'), 420));
      await withdraw('w3', 425);
      await withdraw('w4', 426); // a key Postgres has no row for
      const pending = [
        { id: 'w3', version: 425, row: row('w3', 'withdrawn') },
        { id: 'w4', version: 426, row: row('w4', 'withdrawn') },
      ];
      const found = await l3().findMany(v.items, ['w3'], pending);
      expect(found.map((f) => [f.row.name, f.version, f.withdrawn])).toEqual([['stored', 420, true]]);
      const laid = await l3().findMany(v.items, ['w3'], [{ id: 'w3', version: 427 }]);
      expect(laid.map((f) => f.withdrawn)).toEqual([false]);
      const where = sql`${v.items.primaryKey.column} in ('w3', 'w4')`;
      const searched = await l3().search(v.items, { where, limit: 10, offset: 0, pending });
      expect(searched.map((s) => s.row.name)).toEqual(['stored']);
      expect(await l3().count(v.items, where, pending)).toBe(1);
      const newer = [{ id: 'w3', version: 427, row: row('w3', 'newer') }];
      expect(
        (
          await l3().search(v.items, {
            where: eq(v.items.primaryKey.column, 'w3'),
            limit: 1,
            offset: 0,
            pending: newer,
          })
        )[0]?.row.name,
      ).toBe('newer');
    });

    it('withdrawnAmong names the writes recorded withdrawn, at their own version only, and which were sent', async () => {
      const among = l3().withdrawnAmong;
      if (!l3().withdraw || !among) return;
      await withdraw('w7', 440);
      const asked = [
        { id: 'w7', version: 440 },
        { id: 'w7', version: 441 },
        { id: 'w8', version: 440 },
      ];
      // `sent` may be left out (not known): the flush then takes the dead letter as unsent.
      const found = async () =>
        (await among.call(l3(), v.items, asked)).map(({ id, version, sent }) => ({ id, version, sent }));
      expect(await found()).toEqual([
        { id: 'w7', version: 440, sent: l3().withdrawalsSent ? false : undefined },
      ]);
      if (l3().withdrawalsSent) {
        await l3().withdrawalsSent!(v.items, [{ id: 'w7', version: 440 }]);
        expect(await found()).toEqual([{ id: 'w7', version: 440, sent: true }]);
      }
      expect(await among.call(l3(), v.counts, asked)).toEqual([]);
      expect(await among.call(l3(), v.items, [])).toEqual([]);
    });

    it('keeps withdrawals above the version Postgres keeps for their key, and those not known sent', async () => {
      const db = suite.db();
      const sentOf = l3().withdrawalsSent;
      if (!l3().withdraw || !sentOf || !db) return;
      const held = async (id: string) =>
        rowsOf(
          await db.execute(
            sql`select version from ${sql.identifier(suite.schemaName)}."_strata_withdrawn" where schema = ${v.items.identity} and id = ${id} order by version`,
          ),
        ).map((r) => Number(r.version));
      const sent = (id: string, version: number) => sentOf.call(l3(), v.items, [{ id, version }]);
      await writeOne(l3(), v.items, set(row('w5', 'stored'), 430));
      await withdraw('w5', 429); // at or below what Postgres keeps: nothing to refuse
      await withdraw('w5', 432);
      // Its dead letter not known sent: kept, reached or not (its message may be delivered again).
      expect(await held('w5')).toEqual([429, 432]);
      await sent('w5', 429);
      await withdraw('w6', 1); // any withdrawal sweeps the schema's reached and sent ones nearby
      expect(await held('w5')).toEqual([432]);
      await writeOne(l3(), v.items, set(row('w5', 'later'), 433));
      await withdraw('w6', 2);
      expect(await held('w5')).toEqual([432]);
      await sent('w5', 432);
      await sent('w5', 432); // again: changes nothing
      await withdraw('w6', 3);
      expect(await held('w5')).toEqual([]);
    });
  });
}
