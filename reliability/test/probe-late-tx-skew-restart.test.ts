import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { BOUND_MS, taggedWriteBehindSuite } from '../support/tagged-write-behind-suite.js';

// Helper "huntdeploy": a late commit reply over a queued write, which the deployment model does
// not generate (its lateCommit flushes first): A (clock 10 s ahead) has a queued set of k; B's
// transaction sets k, Postgres commits it and its reply is held (held-l3.ts); meanwhile A writes
// k again (a queued set or delete, acknowledged); Redis is SIGKILLed and restarted on its AOF while
// the reply is held, after it, or not at all. The two writes overlap: either order is acceptable,
// but B must read one of them, and after every instance flushed, every tier must agree with the
// one Postgres holds.

const suite = taggedWriteBehindSuite('probe_late_tx_skew');
const { schema, n } = suite;

describe('a late commit reply (B) while A (10 s ahead) writes the key, around a Redis restart', () => {
  for (const mine of ['queued set', 'queued delete'] as const)
    for (const restart of ['while held', 'after', 'none'] as const)
      it(`A's ${mine}, restart ${restart}`, async () => {
        let held!: ReturnType<typeof heldL3>;
        const { a, b, c, all, id, fresh } = await suite.three([
          undefined,
          (base) => {
            held = heldL3(base, 'reply');
            return held.l3;
          },
        ]);
        const k = id('k');
        await a.set(schema, { id: k, n: 1 });
        await a.flushDirty();
        await a.set(schema, { id: k, n: 2 }); // queued: the transaction is ordered after it
        held.holdNext();
        const tx = b.tx().set(schema, { id: k, n: 3 }).commit();
        await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
        // Postgres has the transaction; B does not know yet. A writes the key meanwhile.
        if (mine === 'queued set') await a.set(schema, { id: k, n: 4 });
        else await a.delete(schema, k);
        const aWrote = mine === 'queued set' ? 4 : null;
        expect(await n(a, k), 'A reads its write').toBe(aWrote);
        if (restart === 'while held') await suite.restartRedis(all);
        held.open();
        await tx;
        await held.done;
        const bRead = await n(b, k);
        expect([3, aWrote], 'B reads its transaction or the write that overlapped it').toContain(bRead);
        if (restart === 'after') await suite.restartRedis(all);
        for (const x of all) await x.flushDirty();
        const stored = (await suite.stored([k]))[k] ?? null;
        expect([3, aWrote], 'Postgres holds one of the overlapping writes').toContain(stored);
        const took = await suite.converge(
          { A: a, B: b, C: c, fresh: fresh() },
          { [k]: stored },
          BOUND_MS + 500,
        );
        expect(typeof took === 'string' ? took : 'agree', 'every tier agrees with Postgres').toBe('agree');
      });
});
