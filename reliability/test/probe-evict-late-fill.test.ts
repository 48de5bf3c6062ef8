import { createMemoryQueue, type Strata } from '@strata/core';
import { decodeEnvelope } from '@strata/core/driver';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { heldReadL3 } from '../support/held-l3.js';
import { type TierStack, testKey, tierStack } from '../support/stack-tiers.js';

// docs/redis-eviction.md lets a write-through app run Redis with `volatile-*` (and `allkeys-*`
// without tags). Either may evict a key with a TTL before its TTL: the row, tombstone or marker a
// write left at its version, which is what refuses a late fill of an older row (PUT compares
// versions with what the key holds). The late fill: instance B's read loads Postgres before A's
// write commits and fills L2 after it. B has no bus here (a bus fences a read in flight only on the
// instances it reaches before the fill: a Workers isolate polls its log every N ms, a pub/sub
// message may come late or be lost); each case deletes exactly the key A's write left, as an
// eviction would, and then asks a fresh instance and the writer what L2 holds.

//
// Was a DEFECT (every case without a bus failed, e.g. "expected { fresh: 1, writer: 2 } to deeply
// equal { fresh: 2, writer: 2 }"): PUT filled a key that held nothing whatever version it carried,
// and nothing else stopped it: SAME_GENERATION checks the schema's generation (a write does not move
// it), the tick floor only finds Redis going back, and the write fence (engine/fence.ts) is per
// instance, set on B only by a bus message that reaches B before its fill (`applyRemote`,
// engine/cache-forget.ts: the last case). Keeping a write's version 12 s (regression-late-fill)
// does not hold against an eviction. Now every row write records its tick per slot of row keys in
// a hash without TTL (`WROTE`, l2/scripts.ts), and a read's fill carries the tick its L2 read saw
// before it read Postgres: PUT refuses it on an empty key when a write of that slot came after.

const CASES = [
  { label: 'write-through set: the row is evicted', mode: 'write-through', op: 'set', bus: false },
  {
    label: 'write-through delete: the tombstone is evicted',
    mode: 'write-through',
    op: 'delete',
    bus: false,
  },
  {
    label: 'write-through insert: the row is evicted, a late "not found"',
    mode: 'write-through',
    op: 'insert',
    bus: false,
  },
  {
    label: 'write-behind set: the settled row is evicted after its flush',
    mode: 'write-behind',
    op: 'set',
    bus: false,
  },
  {
    label: 'write-through set, the bus reaches B before its fill (fenced: no defect)',
    mode: 'write-through',
    op: 'set',
    bus: true,
  },
] as const;

describe.each(CASES)('an evicted write before a late fill of the key: $label', ({ mode, op, bus }) => {
  let stack: TierStack;
  const instances: Strata[] = [];
  beforeAll(async () => {
    stack = await tierStack(
      `t_evict_fill_${mode === 'write-behind' ? 'wb' : 'wt'}_${op}${bus ? '_bus' : ''}`,
    );
  });
  afterAll(async () => {
    await Promise.allSettled(instances.map((s) => s.close()));
    await stack?.cleanup();
  });

  it('no instance serves the row the write replaced', async () => {
    const schema = stack.schemaOf({
      name: 'ev',
      writeMode: mode,
      ...(op === 'insert' && { negativeTtl: '10m' }),
    });
    const open = (l3?: TierStack['l3']) => {
      const s = stack.strata({
        schemas: [schema],
        encryptionKey: testKey(3),
        writeBehind: { queue: createMemoryQueue() },
        ...(bus && { coherence: { bus: stack.bus() } }),
        ...(l3 && { l3 }),
      });
      instances.push(s);
      return s;
    };
    const held = heldReadL3(stack.l3);
    const late = open(held.l3);
    const writer = open();
    const key = 'k';
    const row = (level: number) => ({ id: key, name: 'n', level, email: `${key}.${level}@evict.example` });
    /** Deletes the key's row key in L2, as an eviction would; what it held (its envelope's kind). */
    const evict = async () => {
      const [name] = (await stack.redis.keys(`${stack.name}:*`)).filter((k) => k.endsWith(`:r:${key}`));
      const value = name === undefined ? null : await stack.redis.get(name);
      if (name !== undefined) await stack.redis.del(name);
      return value === null ? undefined : decodeEnvelope(value)?.kind;
    };
    const write = async (level: number) => {
      await writer.set(schema, row(level));
      if (mode === 'write-behind') await writer.flushDirty();
    };

    /** With a bus: B has applied `n` invalidations (each write's message reached it). */
    const heard = async (n: number) => {
      if (bus) await vi.waitFor(() => expect(late.stats().invalidationsApplied).toBe(n), { timeout: 5_000 });
    };
    if (op !== 'insert') await write(1);
    await heard(op === 'insert' ? 0 : 1);
    // B's read misses L2 (the copy was evicted, or expired) and reads Postgres: its reply is held.
    await evict();
    held.holdNext();
    const reading = late.find(schema, key);
    await vi.waitFor(() => expect(held.reached()).toBe(true), { timeout: 5_000, interval: 2 });
    if (op === 'delete') await writer.delete(schema, key);
    else await write(2);
    const expected = op === 'delete' ? null : 2;
    // What the write left at its version (row, tombstone or marker) is evicted.
    expect(await evict()).toBeDefined();
    // With a bus: its message has reached B (and fenced B's read in flight) before the fill.
    await heard(op === 'insert' ? 1 : 2);
    held.open();
    expect((await reading)?.level ?? null).toBe(op === 'insert' ? null : 1); // began before the write
    await late.settled(); // its L2 fill has landed, or been refused
    if (bus) expect(late.stats().fencedFills).toBeGreaterThan(0); // what held: B's fence

    const fresh = open();
    expect({
      fresh: (await fresh.find(schema, key))?.level ?? null,
      writer: (await writer.find(schema, key))?.level ?? null,
    }).toEqual({ fresh: expected, writer: expected });
  });
});
