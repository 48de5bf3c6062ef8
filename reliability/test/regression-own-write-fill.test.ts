import type { Strata } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { heldL3, heldReadL3 } from '../support/held-l3.js';
import { type TierStack, testKey, tierStack } from '../support/stack-tiers.js';

// races-coherence "ioredis L2, stale windows" failed under load (seed -852137983, path 5): after
// race(delete on i0, reads on i0 + i1, k2), the writer's own next read returned 7, the row the
// delete replaced ("instance 0 read r6-k2 = 7, but may only return one of [null]"). One of the
// writer's racing reads (or a stale row's background refresh) had read Postgres before the delete
// and offered its row to L1 after it. L1 refused it only while it held the delete's tombstone at a
// newer version, and that tombstone lived the schema's L1 TTL (2 ms there): once it had expired,
// or been evicted, L1 took the older row, fresh, and the writer answered it. Here the late read is
// made deterministic: its Postgres reply is held across the write, the write's L1 entry is gone
// (a manual clock moved past its TTL, or evicted) before the reply goes on.

type Gone = 'expired' | 'evicted';
const CASES: { label: string; remove: boolean; windows: boolean; gone: Gone }[] = [
  { label: 'delete, no windows, its L1 tombstone expired', remove: true, windows: false, gone: 'expired' },
  { label: 'set, no windows, its L1 row expired', remove: false, windows: false, gone: 'expired' },
  {
    label: 'delete, stale windows (the race test’s path: a stale row’s refresh)',
    remove: true,
    windows: true,
    gone: 'expired',
  },
  { label: 'delete, its L1 tombstone evicted (a full L1)', remove: true, windows: false, gone: 'evicted' },
];

describe.each(CASES)(
  'a read out across a write on its own instance fills L1 after the write’s entry left it: $label',
  ({ remove, windows, gone }) => {
    let stack: TierStack;
    const instances: Strata[] = [];
    beforeAll(async () => {
      stack = await tierStack(`own_fill${windows ? '_swr' : ''}${remove ? '_del' : ''}_${gone}`);
    });
    afterAll(async () => {
      await Promise.allSettled(instances.map((s) => s.close()));
      await stack?.cleanup();
    });

    it('the writer reads its write, never the row the racing read loaded', async () => {
      const clock = manualClock();
      const schema = stack.schemaOf({
        name: 'own',
        l1: { ttl: '1s', maxEntries: gone === 'evicted' ? 1 : 1_000 },
        l2: { ttl: '1s' },
        ...(windows && { stale: '10m', grace: '10m' }),
      });
      const held = heldReadL3(stack.l3);
      const writer = stack.strata({
        schemas: [schema],
        encryptionKey: testKey(7),
        l3: held.l3,
        clock,
        l1: { maxEntries: gone === 'evicted' ? 1 : 1_000 },
      });
      instances.push(writer);
      const key = 'k';
      const row = (id: string, level: number) => ({
        id,
        name: 'n',
        level,
        email: `${id}.${level}@own.example`,
      });

      await writer.set(schema, row(key, 7));
      // The racing read must read Postgres: its L1 and L2 copies past their fresh time (with
      // windows: answered stale, and the refresh reads Postgres), or dropped (no clock move there).
      if (gone === 'expired') clock.advance(2_000);
      else await writer.invalidate(schema, key);
      held.holdNext();
      const reading = writer.find(schema, key);
      await vi.waitFor(() => expect(held.reached()).toBe(true), { timeout: 5_000, interval: 2 });
      // Its Postgres reply (level 7) is held; the write commits meanwhile.
      if (remove) await writer.delete(schema, key);
      else await writer.set(schema, row(key, 8));
      const expected = remove ? null : 8;
      // The write's L1 entry goes: past its TTL, or evicted by another key's row (L1 holds one).
      if (gone === 'expired') clock.advance(2_000);
      else await writer.set(schema, row('other', 1));
      held.open();
      expect((await reading)?.level).toBe(7); // it began before the write: either answer is right
      await writer.settled(); // a refresh's work (detached) has landed, or been refused
      expect((await writer.find(schema, key))?.level ?? null).toBe(expected);
    });
  },
);

// The same hole by another door: a load that began while the write ran (it read Postgres before the
// commit) stayed listed for request coalescing after the write was acknowledged, and a read begun
// after the acknowledgement joined it and answered the row the write replaced.
describe('a read after a write on its own instance joins no load that began during the write', () => {
  let stack: TierStack;
  let writer: Strata | undefined;
  beforeAll(async () => {
    stack = await tierStack('own_join');
  });
  afterAll(async () => {
    await writer?.close();
    await stack?.cleanup();
  });

  it('the read after the delete reads it, not the load that read Postgres before the commit', async () => {
    const clock = manualClock();
    const schema = stack.schemaOf({ name: 'own', l1: { ttl: '1s' }, l2: { ttl: '1s' } });
    const writes = heldL3(stack.l3);
    const reads = heldReadL3(writes.l3);
    writer = stack.strata({ schemas: [schema], encryptionKey: testKey(7), l3: reads.l3, clock });
    const key = 'k';
    await writer.set(schema, { id: key, name: 'n', level: 7, email: `${key}.7@own.example` });
    clock.advance(2_000); // its L1 and L2 copies past their fresh time: a read goes to Postgres
    // The delete waits before Postgres sees it; a read begins meanwhile, its reply (7) held.
    writes.holdNext();
    const deleting = writer.delete(schema, key);
    await vi.waitFor(() => expect(writes.reached()).toBe(true), { timeout: 5_000, interval: 2 });
    reads.holdNext();
    const early = writer.find(schema, key);
    await vi.waitFor(() => expect(reads.reached()).toBe(true), { timeout: 5_000, interval: 2 });
    writes.open();
    await deleting;
    clock.advance(2_000); // the delete's L1 tombstone past its TTL: the next read goes below L1
    const after = writer.find(schema, key);
    reads.open();
    expect((await early)?.level).toBe(7); // it overlapped the delete: either answer is right
    expect((await after)?.level ?? null).toBe(null);
  });
});
