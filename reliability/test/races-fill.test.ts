import type { InvalidationBus, L3Tier, Strata } from '@strata/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { record } from '../support/ledger.js';
import { type TierStack, testKey, tierStack } from '../support/stack-tiers.js';

/**
 * The cross-instance interleaving the model-based test found (races-coherence, seed -1997831311,
 * with cross-instance races on): instance B reads a row from Postgres; instance A's write of that
 * row commits and replaces L2; B's L2 fill (a plain SET of what it read) lands before A's bus
 * message reaches B (the message is what marks B's read stale). L2 then serves the replaced value
 * to every instance until its TTL (30 min by default). Gated here so it happens every time.
 */
describe('races: a read on another instance that raced a write', () => {
  let stack: TierStack;
  const opened: Strata[] = [];
  let gate: Promise<void> | undefined;
  let loaded: (() => void) | undefined;

  beforeAll(async () => {
    stack = await tierStack('races_fill');
  });
  afterAll(async () => {
    await Promise.allSettled(opened.map((s) => s.close()));
    await stack?.cleanup();
  });

  /** The L3 of instance B: findMany returns what Postgres held, but only once the gate opens. */
  const gatedL3 = (): L3Tier =>
    new Proxy(stack.l3, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (typeof value !== 'function') return value;
        if (prop !== 'findMany') return value.bind(target);
        return async (...args: Parameters<L3Tier['findMany']>) => {
          const rows = await target.findMany(...args);
          loaded?.();
          if (gate) await gate;
          return rows;
        };
      },
    });

  /** B's bus: messages reach B only once `held` resolves (a slow delivery, within any bound). */
  let held: Promise<void> | undefined;
  const slowBus = (): InvalidationBus => {
    const bus = stack.bus();
    return {
      ...bus,
      name: bus.name,
      publish: (m) => bus.publish(m),
      stats: () => bus.stats(),
      close: () => bus.close(),
      subscribe: (handlers) =>
        bus.subscribe({
          ...handlers,
          message: (inv) => {
            if (!held) return handlers.message(inv);
            void held.then(() => handlers.message(inv));
          },
        }),
    };
  };

  it('must not leave the replaced value in L2 (a set on A while B loads)', async () => {
    const schema = stack.schemaOf({ name: 'fill' });
    const config = () => ({
      schemas: [schema],
      coherence: { bus: stack.bus() },
      encryptionKey: testKey(3),
      ttl: { l1: '10m' as const },
    });
    const a = stack.strata(config());
    const b = stack.strata({ ...config(), l3: gatedL3(), coherence: { bus: slowBus() } });
    const c = stack.strata(config());
    opened.push(a, b, c);
    for (const s of opened) await s.find(schema, 'warm-up');
    await a.set(schema, { id: 'x', name: 'x', level: 1, email: 'one@fill.example' });
    await a.invalidate(schema, 'x'); // L2 empty: B's read goes to Postgres

    let deliver!: () => void;
    held = new Promise<void>((resolve) => (deliver = resolve));
    let open!: () => void;
    gate = new Promise<void>((resolve) => (open = resolve));
    const inL3 = new Promise<void>((resolve) => (loaded = resolve));
    const reading = b.find(schema, 'x');
    await inL3; // B holds level 1, read from Postgres
    await a.set(schema, { id: 'x', name: 'x', level: 2, email: 'two@fill.example' }); // acknowledged
    open();
    expect((await reading)?.level).toBe(1); // it began before the write: allowed
    gate = undefined;
    deliver(); // A's message reaches B after B's read settled (and filled L2)
    await vi.waitFor(() => expect(c.stats().invalidationsApplied).toBeGreaterThanOrEqual(2));
    // The write itself is durable: Postgres has it (what the ledger counts); the bug is the stale cache.
    const [stored] = await stack.l3.findMany(schema, ['x']);
    record({
      category: 'races',
      scenario: 'gated L2 fill on another instance',
      operations: 5,
      writesAcknowledged: 1,
      writesFound: stored?.row.level === 2 ? 1 : 0,
      hangs: 0,
    });
    // A third instance with a cold L1 reads the acknowledged write from L2 at once.
    expect((await c.find(schema, 'x'))?.level).toBe(2);
  });
});
