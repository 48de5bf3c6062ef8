import type { L3Tier } from '@strata/core';
import { describe, expect, it } from 'vitest';
import { BOUND_MS, taggedWriteBehindSuite } from '../support/tagged-write-behind-suite.js';
import { wrapL3 } from '../support/wrap-l3.js';

// Helper "huntdeploy": a flush "crashing" mid-batch, which the deployment model does not generate
// (its linkCutFlush loses the reply of the queue's take, not of Postgres' commit): A's flush writes
// its batch, Postgres commits it, the reply is lost (a reset connection), so no entry is acked in
// the stream. Then B writes two of the keys anew (a transaction, or queued writes) and Redis is
// SIGKILLed and restarted on its AOF (before or after B's writes); then every instance flushes,
// A's older batch delivered again. Checked: B reads its writes, Postgres holds the last
// acknowledged writes (the redelivered batch changes nothing), and every tier agrees with it.

const suite = taggedWriteBehindSuite('probe_flush_lost_reply');
const { schema, n } = suite;

/** While `armed`, the next L3 write commits in Postgres and then fails as a reset connection would. */
function lostReplies(base: L3Tier, lost: { armed: boolean }): L3Tier {
  return wrapL3(base, {
    write: async (ops) => {
      const reply = await base.write(ops);
      if (!lost.armed) return reply;
      lost.armed = false;
      throw Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', errno: -104, syscall: 'read' });
    },
  });
}

describe('a flush whose batch committed but whose reply was lost, then a newer write and a restart', () => {
  for (const newer of ['tx', 'queued set'] as const)
    for (const restartFirst of [false, true])
      it(`${newer}${restartFirst ? ', Redis restarted before it' : ', then Redis restarted'}`, async () => {
        const lost = { armed: false };
        const { a, b, c, all, id, fresh } = await suite.three([(base) => lostReplies(base, lost)]);
        const keys = [id('k1'), id('k2'), id('k3')] as const;
        await a.setMany(
          schema,
          keys.map((key) => ({ id: key, n: 1 })),
        );
        lost.armed = true;
        const first = await a.flushDirty().then(
          () => 'ok',
          (err: unknown) => String((err as { code?: string }).code ?? err),
        );
        expect(lost.armed, "the flush's write was made").toBe(false);
        expect(first, "A's flush was told nothing of its commit").toBe('L3_UNAVAILABLE');
        if (restartFirst) await suite.restartRedis(all);
        if (newer === 'tx') await b.tx().set(schema, { id: keys[1], n: 5 }).delete(schema, keys[2]).commit();
        else {
          await b.set(schema, { id: keys[1], n: 5 });
          await b.delete(schema, keys[2]);
        }
        const want = { [keys[0]]: 1, [keys[1]]: 5, [keys[2]]: null };
        if (!restartFirst) await suite.restartRedis(all);
        expect([await n(b, keys[1]), await n(b, keys[2])], 'B reads its writes').toEqual([5, null]);
        for (const x of all) await x.flushDirty();
        expect(await suite.stored(keys), 'Postgres holds the last acknowledged writes').toEqual(want);
        const took = await suite.converge({ A: a, B: b, C: c, fresh: fresh() }, want, BOUND_MS + 500);
        expect(typeof took === 'string' ? took : 'agree', 'every tier agrees with Postgres').toBe('agree');
      });
});
