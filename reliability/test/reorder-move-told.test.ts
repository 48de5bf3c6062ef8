import { defineSchema } from '@strata/core';
import { createUpstashL2, createUpstashLogBus } from '@strata/core/upstash';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { eq } from 'drizzle-orm';
import { afterAll, describe, expect, it } from 'vitest';
import { NEXT_GENERATION } from '../../packages/core/src/l2/scripts.js';
import { reorderSuite, runsScript } from '../support/reorder-suite.js';

/**
 * An instance's own generation move (`invalidateAll`) is out when a bus message of another
 * instance's `invalidateAll`, made earlier but heard late (the log bus is polled), makes it forget
 * the generation. A read then must not read the generation beside the move: Redis may answer that
 * read first, with the generation the earlier `invalidateAll` made (before the instance's own), and
 * the instance kept it after its `invalidateAll` returned, serving rows cached before it.
 */
const isMove = runsScript([NEXT_GENERATION]);

describe('a bus message heard while this instance moves the generation', () => {
  const suite = reorderSuite('reorder_told');
  const stream = uniqueName('reorder_told_log');
  afterAll(async () => {
    await new Redis(testDevstack().upstash!).del(stream);
  });

  it('does not make a read take a generation from before the move once invalidateAll returned', async () => {
    const schema = defineSchema({ table: suite.stack.tables.accounts, name: 'told' });
    const { url, token } = testDevstack().upstash!;
    const make = (via: string, bus: boolean) => {
      const strata = suite.stack.strata({
        l2: createUpstashL2({ url: via, token }),
        schemas: [schema],
        ...(bus && { coherence: { bus: createUpstashLogBus({ url: via, token, stream }), pollInterval: 0 } }),
        ttl: { l1: '10m' },
        timeouts: { l2: '5s' },
      });
      suite.opened.push(strata);
      return strata;
    };
    const a = make(suite.proxy.url, true); // under test: L2 and log bus through the proxy
    const b = make(url, true);
    const c = make(url, false);
    await a.set(schema, { id: 'm1', name: 'v0', level: 0 });
    await b.find(schema, 'm0');

    // B invalidates everything (G1); A does not poll the log meanwhile. C caches m1 in G1.
    const polls = suite.proxy.gate('request', (cmds) =>
      cmds.some((x) => x.includes(stream) && x[0] !== 'XADD'),
    );
    await b.invalidateAll(schema);
    expect((await c.get(schema, 'm1')).name).toBe('v0');
    // Postgres changes behind the cache; A invalidates everything, its move held on the wire.
    await suite.stack.db
      .update(suite.stack.tables.accounts)
      .set({ name: 'after' })
      .where(eq(suite.stack.tables.accounts.id, 'm1'));
    const moves = suite.proxy.gate('request', isMove, 1);
    const invalidated = a.invalidateAll(schema);
    await expect.poll(() => moves.held()).toBe(1);
    // A read on A hears B's message now (concurrent with A's invalidateAll: either row would do).
    polls.open();
    const during = a.get(schema, 'm1');
    await expect.poll(() => a.stats().invalidationsApplied).toBeGreaterThan(0);
    moves.open();
    await invalidated;
    await during;

    expect((await a.get(schema, 'm1')).name).toBe('after');
  });
});
