import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { createMemoryQueue } from '@strata/core';
import { describe, expect, it } from 'vitest';
import { shapesApp } from '../support/shapes-app.js';

// Found by model-merge-refused.test.ts (seed 9001, run 17, a rolling deploy; minimised by hand): v2
// (write-behind, maps `extra`) flushes a row with `extra`; Redis loses its data (the shapes'
// registry with it); v1 (write-behind, no `extra`) queues a delete of the key; a v2 write-through
// set of `b` then takes a newer version. It did not see v1's queued delete (v1's shape was not live
// again yet), so it merged over Postgres' row; v1's delete, refused at its flush as older, merged
// as a delete does (`mergeRefused`: the columns no later write set go back to their defaults), but
// only the columns v1 maps: `extra` kept v2's value from before the delete. Postgres held
// {a:null, b:'b2', c:null, extra:'x1'}; the only order the acknowledgements allow is the delete,
// then the set: extra null.

describe("a narrower version's refused delete merged under a newer partial set", () => {
  const { scratch, v1Behind, v2Behind, v2Through, row } = shapesApp('model_narrow_del');
  const { redisUrl, name, wipe } = scratch;

  it('resets the columns it does not map too, where no later write set them', async () => {
    const config = () => ({
      writeBehind: { queue: createMemoryQueue() },
      coherence: { bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) },
    });
    const a = scratch.strata({ ...config(), schemas: [v1Behind] });
    const b = scratch.strata({ ...config(), schemas: [v2Behind] });
    const c = scratch.strata({ ...config(), schemas: [v2Through] });
    await a.find(v1Behind, 'w');
    await b.find(v2Behind, 'w');
    await c.find(v2Through, 'w');
    await b.set(v2Behind, { id: 'k', b: 'b1', c: 1, extra: 'x1' });
    await b.flushDirty();
    await wipe(); // Redis restarted empty: the live shapes' registry went with it
    await a.delete(v1Behind, 'k');
    await c.set(v2Through, { id: 'k', b: 'b2' });
    await a.flushDirty();
    await b.flushDirty();
    const stored = await row('k');
    expect(stored).toEqual({ id: 'k', a: null, b: 'b2', c: null, extra: null }); // the delete, then the set
    const { extra: _, ...narrow } = stored;
    await expect.poll(() => a.find(v1Behind, 'k'), { timeout: 6_000 }).toEqual(narrow);
    for (const [s, schema] of [
      [b, v2Behind],
      [c, v2Through],
    ] as const)
      await expect.poll(() => s.find(schema, 'k'), { timeout: 6_000 }).toEqual(stored);
  });
});
