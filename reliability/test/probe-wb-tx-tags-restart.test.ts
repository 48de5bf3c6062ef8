import { REPLACED_WAIT_MS } from '@strata/core/driver';
import { describe, expect, it } from 'vitest';
import { BOUND_MS, taggedWriteBehindSuite } from '../support/tagged-write-behind-suite.js';

// Helper "huntdeploy": what the deployment model (deployment-commands.ts) does not generate: its
// schema has no tags, and its transactions never meet a restart with a tag move between. Three
// instances of one write-behind app with tags, clocks 10 s ahead (A), right (B), 7 s behind (C):
// A's queued set of k, B's transaction (set k, delete j, where A queued a set of j first), C's
// invalidateTags of every row's tag, and a Redis SIGKILL restarted on its AOF, in every order.
// Checked after each step: the writer reads its write at once, every instance within BOUND_MS
// (after a restart, plus REPLACED_WAIT_MS: a read may wait that long for a writer to put its
// pending row back); at the end, with every instance flushed, Postgres holds the last acknowledged
// writes and every instance (and a new one reading L2) agrees with it.
// Found: "set, tx, tags, restart": A's read of j after the restart waited the whole second for a
// row of B's transaction's delete (told as a set); fixed, regression-tx-delete-told.test.ts.

const suite = taggedWriteBehindSuite('probe_wb_tx_tags');
const { schema, n } = suite;

type Step = 'set' | 'tx' | 'tags' | 'restart';
function permutations(xs: readonly Step[]): Step[][] {
  if (xs.length <= 1) return [[...xs]];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

describe('write-behind x transaction x invalidateTags x Redis restart, in every order', () => {
  for (const order of permutations(['set', 'tx', 'tags', 'restart'])) {
    it(`${order.join(', ')}`, async () => {
      const { a, b, c, all, id, fresh } = await suite.three();
      const k = id('k');
      const j = id('j');
      const want: Record<string, number | null> = { [k]: 1, [j]: 1 };
      await a.setMany(schema, [
        { id: k, n: 1 },
        { id: j, n: 1 },
      ]);
      await a.flushDirty();
      for (const x of all) expect([await n(x, k), await n(x, j)]).toEqual([1, 1]); // every L1 holds them
      await a.set(schema, { id: j, n: 2 }); // queued: the transaction deletes it
      want[j] = 2;
      let level = 10;
      const late: string[] = [];
      for (const step of order) {
        if (step === 'set') {
          level += 1;
          await a.set(schema, { id: k, n: level });
          want[k] = level;
          expect(await n(a, k), 'A reads its queued set').toBe(level);
        } else if (step === 'tx') {
          level += 1;
          await b.tx().set(schema, { id: k, n: level }).delete(schema, j).commit();
          want[k] = level;
          want[j] = null;
          expect([await n(b, k), await n(b, j)], 'B reads its transaction').toEqual([level, null]);
        } else if (step === 'tags') {
          await c.invalidateTags(['league:7']);
        } else {
          await suite.restartRedis(all);
        }
        const took = await suite.converge({ A: a, B: b, C: c }, want, 5_000);
        if (typeof took === 'string') throw new Error(`after ${step}: ${took}`);
        const bound = step === 'restart' ? BOUND_MS + REPLACED_WAIT_MS : BOUND_MS;
        if (took.ms > bound)
          late.push(
            `after ${step}: ${took.ms} ms (before: ${took.before}; slowest read ${took.slowest.ms} ms, ${took.slowest.read})`,
          );
      }
      for (const x of all) await x.flushDirty();
      expect(await suite.stored([k, j]), 'Postgres holds the last acknowledged writes').toEqual(want);
      const took = await suite.converge({ A: a, B: b, C: c, fresh: fresh() }, want, BOUND_MS + 500);
      expect(typeof took === 'string' ? took : 'agree', 'every tier agrees with Postgres').toBe('agree');
      expect(late, 'the others read the writes within the bound').toEqual([]);
    });
  }
});
