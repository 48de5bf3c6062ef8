import type { Strata } from '@strata/core';
import { decodeEnvelope } from '@strata/core/driver';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { heldReadL3 } from '../support/held-l3.js';
import { type TierStack, testKey, tierStack } from '../support/stack-tiers.js';

// races-coherence "ioredis L2, stale windows" failed once at load ~20 (seed 1476246212, path 14):
// after delete(i1, k2) and the bus settling, an instance read k2 = 8 (the value the delete
// replaced) where null was expected. A read (there: a stale row's background refresh) read
// Postgres before the delete and filled L2 after it, and after the delete's tombstone, which lived
// the L2 TTL (5 ms there), had already left Redis: nothing held the version floor any more, so the
// older row landed and every instance read it. The same for a write whose row expired from Redis
// (a short L2 TTL, no windows) before the late fill came. Here the late read is made deterministic:
// its Postgres reply is held until the write's L2 value is past its fresh time, on an instance
// with no bus (the bus fences a read in flight only on the instances it reaches in time).

const CASES = [
  { label: 'delete, no windows', windows: false, remove: true },
  { label: 'set, no windows', windows: false, remove: false },
  {
    label: 'delete, stale windows (the race test’s path: a stale row’s refresh)',
    windows: true,
    remove: true,
  },
];

describe.each(CASES)(
  'a read that saw Postgres before a write fills L2 after the write’s value went stale: $label',
  ({ windows, remove }) => {
    let stack: TierStack;
    const instances: Strata[] = [];
    beforeAll(async () => {
      stack = await tierStack(`late_fill${windows ? '_swr' : ''}${remove ? '_del' : ''}`);
    });
    afterAll(async () => {
      await Promise.allSettled(instances.map((s) => s.close()));
      await stack?.cleanup();
    });

    it('no instance reads the row the write replaced', async () => {
      const schema = stack.schemaOf({
        name: 'late',
        l2: { ttl: '20ms' },
        ...(windows && { stale: '10m', grace: '10m' }),
      });
      const open = (l3?: TierStack['l3']) => {
        const s = stack.strata({
          schemas: [schema],
          encryptionKey: testKey(7),
          ttl: { l1: '10m' },
          ...(l3 && { l3 }),
        });
        instances.push(s);
        return s;
      };
      const held = heldReadL3(stack.l3);
      const late = open(held.l3);
      const writer = open();
      const key = 'k';
      const row = (level: number) => ({ id: key, name: 'n', level, email: `${key}.${level}@late.example` });
      /** The key's value in Redis, once it is gone or past its fresh time (its TTL: no read answers it fresh). */
      const pastFresh = () =>
        vi.waitFor(
          async () => {
            const [name] = (await stack.redis.keys(`${stack.name}:*`)).filter((k) => k.endsWith(`:${key}`));
            const value = name === undefined ? null : await stack.redis.get(name);
            const e = value === null ? undefined : decodeEnvelope(value);
            expect(e === undefined || e.expiresAt < Date.now()).toBe(true);
          },
          { timeout: 5_000, interval: 2 },
        );

      await writer.set(schema, row(8));
      await pastFresh();
      // The late read: L2's copy is past its fresh time, so it reads Postgres (with windows: it is
      // answered stale, and its refresh reads Postgres), and its reply (level 8) is held.
      held.holdNext();
      const reading = late.find(schema, key);
      await vi.waitFor(() => expect(held.reached()).toBe(true), { timeout: 5_000, interval: 2 });
      if (remove) await writer.delete(schema, key);
      else await writer.set(schema, row(9));
      const expected = remove ? null : 9;
      // The write's L2 value is past its fresh time before the late read goes on.
      await pastFresh();
      held.open();
      expect((await reading)?.level).toBe(8); // it began before the write: either answer is right
      await late.settled(); // its L2 fill (deferred work) has landed, or been refused

      // An instance started now (nothing in L1) and the writer read the write, never the row it replaced.
      const fresh = open();
      expect((await fresh.find(schema, key))?.level ?? null).toBe(expected);
      expect((await writer.find(schema, key))?.level ?? null).toBe(expected);
    });
  },
);
