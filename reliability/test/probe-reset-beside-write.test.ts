import type { L2Tier } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { describe, expect, it } from 'vitest';
import { REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';

// A suspect of a failure seen once in CI (probe-hostile-10, "killed 30 ms into it": an acknowledged
// setMany of 2,000 rows read as null by every instance for 5 s after a Redis SIGKILL and restart on
// its AOF), checked and ruled out here: a write-behind script that reaches the restarted Redis before
// any generation read found the restart writes its rows under the old life's generation (status 0);
// the generation read sent right behind it finds the restart. If the write's reply were taken after
// the reset's restore had listed this instance's unflushed writes, but checked for a reset before
// it was found, its rows would be remembered too late, orphaned by the reset's move, and read by no
// one until the flush. The seam hands both replies up in one turn, the write's first: the write
// still finds the reset (on this code, before its reply is taken) and is sent again into the new
// generation, where every instance reads it. Passes on the code it was written against; kept so
// that a change in how replies are taken cannot open that window unseen.

const s = restartSuite('reset_beside_write');

interface Gate {
  armed: boolean;
  /** The write script's reply came while armed, and was held until the generation read's. */
  held: boolean;
  /** Called as the write script leaves. */
  sent: () => void;
}

/** The writer's L2: armed, the write script's reply is held until a generation read's comes. */
function heldBeside(gate: Gate) {
  let release: (() => void) | undefined;
  return (tier: L2Tier): L2Tier =>
    Object.assign(Object.create(tier) as L2Tier, {
      run: (script: Parameters<L2Tier['run']>[0], keys: readonly string[], args: readonly string[]) => {
        const sent = tier.run(script, keys, args);
        if (!gate.armed) return sent;
        if (script.name === 'ordered-put' || script.name === 'ordered-put-enqueue')
          return new Promise((resolve, reject) => {
            gate.sent();
            sent.then(
              (v) => {
                release = () => resolve(v);
              },
              (err: unknown) => {
                release = () => reject(err);
              },
            );
          });
        if (script.name === 'generation' && release)
          return sent.then((v) => {
            gate.armed = false;
            gate.held = true;
            release!();
            return v;
          });
        return sent;
      },
    });
}

describe('a write-behind reply taken in the same turn as the generation read that finds a Redis restart', () => {
  it('the batch lands in the new generation: the writer and another instance read it, then Postgres', async () => {
    const schema = s.store.schema('write-behind');
    const clock = manualClock(Date.now());
    const keyPrefix = `${s.store.name}-beside`;
    let sent!: () => void;
    const leaving = new Promise<void>((resolve) => {
      sent = resolve;
    });
    const gate: Gate = { armed: false, held: false, sent };
    const writer = s.instance(keyPrefix, clock, { writeBehind: true, wrapL2: heldBeside(gate) });
    const reader = s.instance(keyPrefix, clock, { writeBehind: true });
    for (const x of [writer, reader]) await x.find(schema, 'warm-up');
    await writer.set(schema, { id: 'warm', n: 1 }); // its counter and claim known: no read before the batch
    await s.client().save(); // the restart keeps the data, as an AOF would
    await s.restart();

    gate.armed = true;
    const ids = Array.from({ length: 20 }, (_, i) => `beside-${i}`);
    // The generation is known (5 s have not passed): the script goes without a generation read,
    // into the old life, and its reply is held.
    const set = writer.setMany(
      schema,
      ids.map((id, i) => ({ id, n: i + 1 })),
    );
    await leaving;
    clock.advance(REFRESH_PASSED); // the writer's next read reads the generation: it finds the restart
    await writer.find(schema, 'other');
    await set;
    expect(gate.held, 'the reply was held beside the generation read').toBe(true);
    expect((await writer.find(schema, ids[0]!))?.n, 'the writer reads its write').toBe(1);
    // The reader finds the restart at its first read; the batch is in the generation it moves to.
    await expect
      .poll(async () => (await reader.find(schema, ids[19]!))?.n ?? null, { timeout: 3_000, interval: 50 })
      .toBe(20);
    expect((await s.store.stored()).has(ids[0]!), 'not flushed yet').toBe(false);
    await writer.flushDirty();
    expect((await s.store.stored()).get(ids[19]!)).toBe(20);
  });
});
