import { sql } from 'drizzle-orm';
import { integer, pgSchema } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { rowsOf } from '../src/drizzle/rows.js';
import { EPOCH_SPAN } from '../src/l3/epoch-span.js';
import { defineSchema } from '../src/schema/define-schema.js';
import type { CompiledSchema } from '../src/schema/types.js';
import type { L3Suite } from './l3-conformance-suite.js';
import type { QueryModel } from './l3-conformance-tables.js';

/**
 * `claimWriter()` (optional): one app's claim on a table in `_strata_writers` (created on first use),
 * a lease on Postgres' clock. Exclusive (write-behind) claims keep every other app out while live;
 * write-through claims share a table; a lapsed claim is taken by the next app, unseeded; a
 * counter-ordered write-through claim keeps its own app's row's `seeded`.
 */
export function registerWriterClaimTests(suite: L3Suite, q: QueryModel): void {
  describe('claimWriter', () => {
    const behind = (owner: string, reseed = false) => ({ owner, mode: 'write-behind', reseed });
    const through = (owner: string, reseed = true) => ({ owner, mode: 'write-through', reseed });
    const lapse = (schema: CompiledSchema) =>
      suite
        .db()!
        .execute(
          sql`update ${sql.raw(`"${suite.schemaName}"._strata_writers`)} set expires_at = now() - interval '1 second' where schema = ${schema.identity}`,
        );

    it('an exclusive claim keeps every other app out while it is live, and is renewed by its owner', async (t) => {
      const l3 = suite.l3();
      if (!l3.claimWriter) return t.skip();
      const s = q.people;
      expect(await l3.claimWriter(s, 'app-a', true, false)).toEqual(behind('app-a', true)); // new: unseeded
      expect(await l3.claimWriter(s, 'app-a', true, true)).toEqual(behind('app-a'));
      expect(await l3.claimWriter(s, 'app-a', true, false)).toEqual(behind('app-a')); // renewed, still seeded
      // Refused: the holder is named, exclusive and write-through claims alike.
      expect(await l3.claimWriter(s, 'app-b', true, false)).toEqual(behind('app-a'));
      expect(await l3.claimWriter(s, 'app-b', false, false)).toEqual(behind('app-a'));
    });

    it('write-through claims share a table and keep exclusive ones out', async (t) => {
      const l3 = suite.l3();
      if (!l3.claimWriter) return t.skip();
      const s = q.texts;
      // A table no app claimed yet: nothing is above the claimant's counters.
      expect(await l3.claimWriter(s, 'wt-1', false, false)).toEqual(through('wt-1', false));
      expect(await l3.claimWriter(s, 'wt-2', false, false)).toEqual(through('wt-2'));
      expect(await l3.claimWriter(s, 'wt-1', false, false)).toEqual(through('wt-1'));
      expect(await l3.claimWriter(s, 'wb', true, false)).toMatchObject({
        owner: 'wt-1',
        mode: 'write-through',
      });
    });

    it('a lapsed claim is taken by another app unseeded; its owner regaining it stays seeded', async (t) => {
      const l3 = suite.l3();
      if (!l3.claimWriter || !suite.db()) return t.skip();
      const s = q.accounts;
      await l3.claimWriter(s, 'app-a', true, false);
      await l3.claimWriter(s, 'app-a', true, true);
      await lapse(s);
      expect(await l3.claimWriter(s, 'app-a', true, false)).toEqual(behind('app-a'));
      await lapse(s);
      expect(await l3.claimWriter(s, 'app-b', true, false)).toEqual(behind('app-b', true));
      expect(await l3.claimWriter(s, 'app-a', true, false)).toEqual(behind('app-b'));
      // The same app in the other mode is another claim: unseeded when it comes back to write-behind.
      expect(await l3.claimWriter(s, 'app-b', false, false)).toEqual(through('app-b'));
      expect(await l3.claimWriter(s, 'app-b', true, false)).toEqual(behind('app-b', true));
    });

    it("a counter-ordered write-through claim keeps its own app's row's seeded, in either mode", async (t) => {
      const l3 = suite.l3();
      if (!l3.claimWriter || !suite.db()) return t.skip();
      const s = defineSchema({
        table: pgSchema(suite.schemaName).table('claims_ordered', { id: integer('id').primaryKey() }),
      });
      const ordered = (owner: string, seeded: boolean) => l3.claimWriter!(s, owner, false, seeded, true);
      await l3.claimWriter(s, 'app-b', true, false);
      await lapse(s);
      // Taken from another app: unseeded until the claimant says it moved its counters; its move
      // not made yet (it failed), every instance of the app is told (`reseed`), not only the first.
      expect(await ordered('app-a', false)).toEqual(through('app-a'));
      expect(await ordered('app-a', false)).toEqual(through('app-a'));
      expect(await ordered('app-a', true)).toEqual(through('app-a', false));
      expect(await ordered('app-a', false)).toEqual(through('app-a', false));
      await lapse(s);
      expect(await ordered('app-a', false)).toEqual(through('app-a', false)); // its own lapsed row: still seeded
      // The app's worker (write-behind) claims: unseeded for it (its seed under way); the API's
      // claims leave its row as it is (write-behind; unseeded until the worker says it seeded).
      expect(await l3.claimWriter(s, 'app-a', true, false)).toEqual(behind('app-a', true));
      expect(await ordered('app-a', true)).toEqual(through('app-a', true));
      expect(await l3.claimWriter(s, 'app-a', true, true)).toEqual(behind('app-a'));
      expect(await ordered('app-a', false)).toEqual(through('app-a', false));
      expect(await l3.claimWriter(s, 'app-a', true, false)).toEqual(behind('app-a')); // still write-behind
      await lapse(s);
      // Its own lapsed write-behind row: write-through now, still seeded.
      expect(await ordered('app-a', false)).toEqual(through('app-a', false));
    });

    it("a write-through claim taking another app's lapsed write-behind row starts the table's next epoch, in the claim", async (t) => {
      const l3 = suite.l3();
      const db = suite.db();
      if (!l3.claimWriter || !db) return t.skip();
      const s = defineSchema({
        table: pgSchema(suite.schemaName).table('claims_epoch', { id: integer('id').primaryKey() }),
      });
      const versions = sql.raw(`"${suite.schemaName}"._strata_versions`);
      const epoch = async () =>
        Number(
          rowsOf(
            await db.execute(
              sql`select coalesce(max(version), 0) as e from ${versions} where schema = ${s.identity} and id = ''`,
            ),
          )[0]?.e ?? 0,
        );
      // Every claim lapsed, write-through ones beside the row's owner too.
      const lapseAll = () =>
        db.execute(
          sql`update ${sql.raw(`"${suite.schemaName}"._strata_writers`)} set expires_at = now() - interval '1 second', other = null, other_until = null where schema = ${s.identity}`,
        );
      await l3.claimWriter(s, 'app-a', true, false);
      expect(await l3.claimWriter(s, 'app-b', false, false)).toEqual(behind('app-a')); // live: refused
      expect(await epoch()).toBe(0);
      await lapseAll();
      // Its queued writes may still flush: the taker's Postgres-ordered writes go above their epoch.
      expect(await l3.claimWriter(s, 'app-b', false, false)).toEqual(through('app-b'));
      expect(await epoch()).toBe(1);
      // Beside or over a write-through row, renewed, or taking a lapsed one: no epoch.
      expect(await l3.claimWriter(s, 'app-c', false, false)).toEqual(through('app-c'));
      expect(await l3.claimWriter(s, 'app-b', false, false)).toEqual(through('app-b'));
      await lapseAll();
      expect(await l3.claimWriter(s, 'app-c', false, false)).toEqual(through('app-c'));
      expect(await epoch()).toBe(1);
      // A write-behind claim takes none here (its counter's seed does), nor its own app's
      // write-through claim of its lapsed row (the app orders both modes by its counters).
      await lapseAll();
      expect(await l3.claimWriter(s, 'app-a', true, false)).toEqual(behind('app-a', true));
      await lapseAll();
      expect(await l3.claimWriter(s, 'app-a', false, false, true)).toEqual(through('app-a'));
      expect(await epoch()).toBe(1);
      // Past every version stored, as a seed's epoch: a version of epoch 3 makes the next one 4.
      await l3.claimWriter(s, 'app-a', true, true);
      await db.execute(
        sql`insert into ${versions} (schema, id, version, deleted) values (${s.identity}, '7', ${3 * EPOCH_SPAN + 5}, false)`,
      );
      await lapseAll();
      expect(await l3.claimWriter(s, 'app-d', false, false)).toEqual(through('app-d'));
      expect(await epoch()).toBe(4);
    });
  });
}
