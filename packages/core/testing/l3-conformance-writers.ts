import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { WriterClaim } from '../src/l3/types.js';
import type { CompiledSchema } from '../src/schema/types.js';
import type { L3Suite } from './l3-conformance-suite.js';
import type { QueryModel } from './l3-conformance-tables.js';

/**
 * `claimWriter()` (optional): one app's claim on a table in `_strata_writers` (created on first use),
 * a lease on Postgres' clock. Exclusive (write-behind) claims keep every other app out while live;
 * write-through claims share a table; a lapsed claim is taken by the next app, unseeded.
 */
export function registerWriterClaimTests(suite: L3Suite, q: QueryModel): void {
  describe('claimWriter', () => {
    const behind = (owner: string, reseed = false) => ({ owner, mode: 'write-behind', reseed });
    const through = (owner: string) => ({ owner, mode: 'write-through', reseed: true });
    /**
     * The claim's answer without `taken` (optional: an L3 that does not say it), which is checked
     * where the L3 says it: whether the row named another app before this claim (no row: false).
     */
    const claim = async (got: Promise<WriterClaim>, taken?: boolean) => {
      const { taken: said, ...answer } = await got;
      if (said !== undefined && taken !== undefined) expect(said, 'taken').toBe(taken);
      return answer;
    };

    it('an exclusive claim keeps every other app out while it is live, and is renewed by its owner', async (t) => {
      const l3 = suite.l3();
      if (!l3.claimWriter) return t.skip();
      const s = q.people;
      expect(await claim(l3.claimWriter(s, 'app-a', true, false), false)).toEqual(behind('app-a', true)); // new: unseeded
      expect(await claim(l3.claimWriter(s, 'app-a', true, true), false)).toEqual(behind('app-a'));
      expect(await claim(l3.claimWriter(s, 'app-a', true, false), false)).toEqual(behind('app-a')); // renewed, still seeded
      // Refused: the holder is named, exclusive and write-through claims alike.
      expect(await claim(l3.claimWriter(s, 'app-b', true, false))).toEqual(behind('app-a'));
      expect(await claim(l3.claimWriter(s, 'app-b', false, false))).toEqual(behind('app-a'));
    });

    it('write-through claims share a table and keep exclusive ones out', async (t) => {
      const l3 = suite.l3();
      if (!l3.claimWriter) return t.skip();
      const s = q.texts;
      expect(await claim(l3.claimWriter(s, 'wt-1', false, false), false)).toEqual(through('wt-1'));
      expect(await claim(l3.claimWriter(s, 'wt-2', false, false), true)).toEqual(through('wt-2'));
      expect(await claim(l3.claimWriter(s, 'wt-1', false, false), true)).toEqual(through('wt-1'));
      expect(await l3.claimWriter(s, 'wb', true, false)).toMatchObject({
        owner: 'wt-1',
        mode: 'write-through',
      });
    });

    it('a lapsed claim is taken by another app unseeded; its owner regaining it stays seeded', async (t) => {
      const l3 = suite.l3();
      const db = suite.db();
      if (!l3.claimWriter || !db) return t.skip();
      const s = q.accounts;
      const lapse = (schema: CompiledSchema) =>
        db.execute(
          sql`update ${sql.raw(`"${suite.schemaName}"._strata_writers`)} set expires_at = now() - interval '1 second' where schema = ${schema.identity}`,
        );
      await l3.claimWriter(s, 'app-a', true, false);
      await l3.claimWriter(s, 'app-a', true, true);
      await lapse(s);
      expect(await claim(l3.claimWriter(s, 'app-a', true, false), false)).toEqual(behind('app-a'));
      await lapse(s);
      expect(await claim(l3.claimWriter(s, 'app-b', true, false), true)).toEqual(behind('app-b', true));
      expect(await claim(l3.claimWriter(s, 'app-a', true, false))).toEqual(behind('app-b'));
      // The same app in the other mode is another claim: unseeded when it comes back to write-behind.
      expect(await claim(l3.claimWriter(s, 'app-b', false, false), false)).toEqual(through('app-b'));
      expect(await claim(l3.claimWriter(s, 'app-b', true, false), false)).toEqual(behind('app-b', true));
    });
  });
}
