import { createMemoryQueue, defineSchema, isStrataError } from '@strata/core';
import { createUpstashL2 } from '@strata/core/upstash';
import { testDevstack } from '@strata/devstack/testing';
import { describe, expect, it } from 'vitest';
import { ORDERED_PUT, ORDERED_PUT_ENQUEUE } from '../../packages/core/src/l2/scripts.js';
import { reorderSuite, runsScript } from '../support/reorder-suite.js';

/**
 * The HTTP form of regression-late-script.test.ts: a write-behind set whose script is sent in time
 * but reaches Redis late (held on the wire past its caller's L2 deadline). The caller was told
 * L2_UNAVAILABLE (nothing written); another instance then writes the key and is acknowledged. When
 * the held script reaches Redis it must not take a version above that acknowledged write.
 */
const orderedPut = runsScript([ORDERED_PUT, ORDERED_PUT_ENQUEUE]);

describe('a write-behind script that reaches Redis after its caller gave up', () => {
  const suite = reorderSuite('reorder_wb');

  it('does not put its row over a write acknowledged meanwhile', async () => {
    const schema = defineSchema({
      table: suite.stack.tables.accounts,
      name: 'wb',
      writeMode: 'write-behind',
    });
    const queue = createMemoryQueue();
    const make = (url: string) => {
      const strata = suite.stack.strata({
        l2: createUpstashL2({ url, token: testDevstack().upstash!.token }),
        schemas: [schema],
        timeouts: { l2: '300ms' },
        writeBehind: { queue, threshold: 1_000_000 },
      });
      suite.opened.push(strata);
      return strata;
    };
    const a = make(suite.proxy.url);
    const b = make(testDevstack().upstash!.url);
    await a.set(schema, { id: 'k', name: 'warm', level: 0 });
    await a.flushDirty();

    const held = suite.proxy.gate('request', orderedPut, 1);
    const refused = await a.set(schema, { id: 'k', name: 'refused', level: 1 }).then(
      () => 'OK',
      (err: unknown) => (isStrataError(err) ? err.code : String(err)),
    );
    expect(refused).toBe('L2_UNAVAILABLE');
    expect(held.held()).toBe(1);
    await b.set(schema, { id: 'k', name: 'acked', level: 2 });
    // The held script reaches Redis now, and Redis answers it.
    held.open();
    await expect.poll(() => held.replies().length).toBe(1);
    await a.flushDirty();
    await b.flushDirty();

    const fresh = make(testDevstack().upstash!.url);
    const rows = {
      a: (await a.find(schema, 'k'))?.name,
      b: (await b.find(schema, 'k'))?.name,
      fresh: (await fresh.find(schema, 'k'))?.name,
      postgres: (await suite.stack.l3Snapshot()).find((r) => r.id === 'k')?.name,
    };
    expect(rows).toEqual({ a: 'acked', b: 'acked', fresh: 'acked', postgres: 'acked' });
  });
  /**
   * KNOWN DEFECT, left failing (it.fails). With a queue that is not part of the L2 script (the
   * memory queue here; Cloudflare Queues on Workers, any queue but a Redis stream on the L2's
   * Redis) the write is enqueued after ORDERED_PUT's reply. A script sent in time, held on the wire
   * past the caller's L2 deadline, then run by Redis, lays a pending row that no queue entry stands
   * for: the caller was told L2_UNAVAILABLE (nothing acknowledged), every other instance reads the
   * refused row as the newest write (pending rows are kept a week), and no flush ever takes it to
   * Postgres. The same happens when the script runs in time and its reply is held instead. A
   * deadline checked inside Redis would not cover the held reply; the fix needs the timed-out
   * write withdrawn whichever of the two reaches Redis first (e.g. a per-write token the script
   * checks and the withdrawal tombstones), as a write-through write of unknown outcome is.
   * Fails with: expected { a: 'warm', b: 'refused', fresh: 'refused', postgres: 'warm' } to deeply
   * equal { a: 'warm', b: 'warm', fresh: 'warm', postgres: 'warm' }.
   */
  it.fails('alone (no other write of the key): the write it was told failed is not read afterwards', async () => {
    const schema = defineSchema({
      table: suite.stack.tables.accounts,
      name: 'wb',
      writeMode: 'write-behind',
    });
    const queue = createMemoryQueue();
    const make = (url: string) => {
      const strata = suite.stack.strata({
        l2: createUpstashL2({ url, token: testDevstack().upstash!.token }),
        schemas: [schema],
        timeouts: { l2: '300ms' },
        writeBehind: { queue, threshold: 1_000_000 },
      });
      suite.opened.push(strata);
      return strata;
    };
    const a = make(suite.proxy.url);
    const b = make(testDevstack().upstash!.url);
    await a.set(schema, { id: 'k2', name: 'warm', level: 0 });
    await a.flushDirty();

    const held = suite.proxy.gate('request', orderedPut, 1);
    const refused = await a.set(schema, { id: 'k2', name: 'refused', level: 1 }).then(
      () => 'OK',
      (err: unknown) => (isStrataError(err) ? err.code : String(err)),
    );
    expect(refused).toBe('L2_UNAVAILABLE');
    expect(held.held()).toBe(1);
    // The held script reaches Redis now, and Redis answers it.
    held.open();
    await expect.poll(() => held.replies().length).toBe(1);
    await a.flushDirty();
    await b.flushDirty();

    const fresh = make(testDevstack().upstash!.url);
    const rows = {
      a: (await a.find(schema, 'k2'))?.name,
      b: (await b.find(schema, 'k2'))?.name,
      fresh: (await fresh.find(schema, 'k2'))?.name,
      postgres: (await suite.stack.l3Snapshot()).find((r) => r.id === 'k2')?.name,
    };
    expect(rows).toEqual({ a: 'warm', b: 'warm', fresh: 'warm', postgres: 'warm' });
  });
});
