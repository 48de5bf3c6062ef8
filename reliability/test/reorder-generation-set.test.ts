import { defineSchema } from '@strata/core';
import { createUpstashL2 } from '@strata/core/upstash';
import { testDevstack } from '@strata/devstack/testing';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import type { Command } from '../support/reorder-proxy.js';
import { reorderSuite } from '../support/reorder-suite.js';

/**
 * A write script sent in a generation that moved meanwhile is refused with the generation it found
 * ({tick, -4, generation}), and the instance takes that generation. Over HTTP that reply can come
 * back late: after the instance's own `invalidateAll` moved the generation on again. Taken then, it
 * put the instance back into the generation `invalidateAll` left: its reads served rows cached
 * before it, and L1 kept them for its TTL.
 */
const movedReply = (_: readonly Command[], __: string, reply?: string) => {
  try {
    const { result } = JSON.parse(reply ?? '') as { result?: unknown };
    return Array.isArray(result) && result[1] === -4;
  } catch {
    return false;
  }
};

describe('a write refused by a generation move, its reply overtaken', () => {
  const suite = reorderSuite('reorder_gen');

  const make = (url: string, bus = false) => {
    const schema = defineSchema({ table: suite.stack.tables.accounts, name: 'gen' });
    const strata = suite.stack.strata({
      l2: createUpstashL2({ url, token: testDevstack().upstash!.token }),
      schemas: [schema],
      ...(bus && { coherence: { bus: suite.stack.bus() } }),
      ttl: { l1: '10m' },
      timeouts: { l2: '5s' },
    });
    suite.opened.push(strata);
    return { strata, schema };
  };

  it('once invalidateAll returned, a refusal sent before it does not take the instance back to the older generation', async () => {
    const a = make(suite.proxy.url); // the instance under test, its L2 requests through the proxy
    const c = make(testDevstack().upstash!.url); // another instance (no bus: A does not hear it)
    await a.strata.set(a.schema, { id: 'g1', name: 'v0', level: 0 }); // A knows the generation G0
    await c.strata.invalidateAll(c.schema); // G1: A does not know it yet (within its 5 s)
    expect((await c.strata.get(c.schema, 'g1')).name).toBe('v0'); // cached in G1

    // A writes another key in G0: Redis refuses it with G1, and that reply is held.
    const late = suite.proxy.gate('reply', movedReply, 1);
    let settled = false;
    const write = a.strata.set(a.schema, { id: 'w1', name: 'x', level: 1 }).finally(() => {
      settled = true;
    });
    await expect.poll(() => late.held()).toBe(1);
    // Postgres changes behind the cache, and A invalidates everything: G2.
    await suite.stack.db
      .update(suite.stack.tables.accounts)
      .set({ name: 'after' })
      .where(eq(suite.stack.tables.accounts.id, 'g1'));
    await a.strata.invalidateAll(a.schema);
    // The refusal (G1) comes back now; the write's next try, held too, leaves a read in between.
    const again = suite.proxy.gate('reply', movedReply, 1);
    late.open();
    // Either the next try is held (refused again: the instance took G1) or the write is done.
    await expect.poll(() => again.held() === 1 || settled).toBe(true);
    const during = await a.strata.get(a.schema, 'g1');
    again.open();
    await write;

    expect({ during: during.name, after: (await a.strata.get(a.schema, 'g1')).name }).toEqual({
      during: 'after',
      after: 'after',
    });
  });

  it("once another instance's invalidateAll is told on the bus, a refusal sent before it does not take the instance back", async () => {
    const b = make(suite.proxy.url, true); // the instance under test, its L2 requests through the proxy
    const a = make(testDevstack().upstash!.url, true); // tells B on the bus
    const c = make(testDevstack().upstash!.url); // moves the generation without telling anyone
    await b.strata.set(b.schema, { id: 'h1', name: 'v0', level: 0 }); // B knows G0, subscribed
    await a.strata.find(a.schema, 'h0'); // A subscribed
    await c.strata.invalidateAll(c.schema); // G1, unheard
    expect((await c.strata.get(c.schema, 'h1')).name).toBe('v0'); // cached in G1

    const late = suite.proxy.gate('reply', movedReply, 1);
    let settled = false;
    const write = b.strata.set(b.schema, { id: 'w2', name: 'x', level: 1 }).finally(() => {
      settled = true;
    });
    await expect.poll(() => late.held()).toBe(1);
    await suite.stack.db
      .update(suite.stack.tables.accounts)
      .set({ name: 'after' })
      .where(eq(suite.stack.tables.accounts.id, 'h1'));
    const applied = b.strata.stats().invalidationsApplied;
    await a.strata.invalidateAll(a.schema); // G2, told to B
    await expect.poll(() => b.strata.stats().invalidationsApplied).toBe(applied + 1);
    const again = suite.proxy.gate('reply', movedReply, 1);
    late.open();
    await expect.poll(() => again.held() === 1 || settled).toBe(true);
    const during = await b.strata.get(b.schema, 'h1');
    again.open();
    await write;

    expect({ during: during.name, after: (await b.strata.get(b.schema, 'h1')).name }).toEqual({
      during: 'after',
      after: 'after',
    });
  });
});
