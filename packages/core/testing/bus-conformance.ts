import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { BusHandlers, Invalidation, InvalidationBus } from '../src/bus/types.js';
import { isStrataError } from '../src/errors.js';

/** Two buses on the same channel or log, and how to drive them. */
export interface BusFixture {
  a: InvalidationBus;
  b: InvalidationBus;
  /** Makes a pull bus poll; a no-op for push buses (the suite then waits on the handler). */
  deliver(bus: InvalidationBus): Promise<void>;
  /** Puts `payload` on the wire as is, past the codec (PUBLISH or XADD with a raw client). */
  injectRaw(payload: string): Promise<void>;
  /** Closes both buses and deletes what the fixture created (streams, clients). */
  cleanup(): Promise<void>;
}

/** Records what a bus delivers; `next` resolves on the handler call itself (no polling delay). */
class Recorder implements BusHandlers {
  readonly messages: Invalidation[] = [];
  gaps = 0;
  readonly #waiters = new Set<(inv: Invalidation) => void>();
  message = (inv: Invalidation): void => {
    this.messages.push(inv);
    for (const waiter of this.#waiters) waiter(inv);
  };
  gap = (): void => {
    this.gaps += 1;
  };
  of(schema: string): Invalidation[] {
    return this.messages.filter((m) => m.schema === schema);
  }
  next(match: (inv: Invalidation) => boolean, timeoutMs: number): Promise<void> {
    const arrived = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(waiter);
        reject(new Error(`no matching message within ${timeoutMs} ms`));
      }, timeoutMs);
      const waiter = (inv: Invalidation) => {
        if (!match(inv)) return;
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        resolve();
      };
      this.#waiters.add(waiter);
    });
    arrived.catch(() => {}); // Awaited by the caller; this only keeps an early timeout from counting as unhandled.
    return arrived;
  }
}

const WAIT = { timeout: 5_000, interval: 10 };
let schemaCounter = 0;
/** Each test uses its own schema names, so a late message of another test cannot confuse it. */
const freshSchema = (label: string): string => `${label}_${++schemaCounter}`;
const inv = (schema: string, ids: string[] | null, op: Invalidation['op'] = 'set'): Invalidation => ({
  schema,
  ids,
  op,
  origin: 'instance-a',
});

/**
 * The invalidation bus seam's conformance suite, written once and run against every bus. `factory`
 * is called once for the suite and once more for the `close()` test.
 *
 * @example
 * describeBusConformance('redis pub/sub', async () => {
 *   const channel = uniqueName('bus');
 *   const a = createRedisPubSubBus({ url, channel });
 *   const b = createRedisPubSubBus({ url, channel });
 *   return { a, b, deliver: async () => {}, injectRaw: (p) => admin.publish(channel, p).then(() => {}),
 *     cleanup: async () => { await a.close(); await b.close(); } };
 * });
 */
export function describeBusConformance(name: string, factory: () => Promise<BusFixture>): void {
  describe(`bus conformance: ${name}`, () => {
    let fixture: BusFixture | undefined;
    const recA = new Recorder();
    const recB = new Recorder();
    const f = (): BusFixture => {
      if (fixture === undefined) throw new Error('the bus fixture did not start');
      return fixture;
    };
    /** Delivers (pull) or waits (push) until `rec` has `count` messages of `schema`. */
    const arrived = (bus: InvalidationBus, rec: Recorder, schema: string, count: number) =>
      vi.waitFor(async () => {
        await f().deliver(bus);
        expect(rec.of(schema)).toHaveLength(count);
      }, WAIT);

    beforeAll(async () => {
      fixture = await factory();
      await Promise.all([fixture.a.subscribe(recA), fixture.b.subscribe(recB)]);
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });

    it('a message published on A reaches B with its fields intact, and A itself', async () => {
      const schema = freshSchema('intact');
      const sent = inv(schema, ['1', 'user:42', 'é ü 中文 🎉', 'a,b "quoted" \\ back', ''], 'delete');
      await f().a.publish(sent);
      await arrived(f().b, recB, schema, 1);
      await arrived(f().a, recA, schema, 1);
      expect(recB.of(schema)).toEqual([sent]);
      expect(recA.of(schema)).toEqual([sent]);
      expect(f().a.name.length).toBeGreaterThan(0);
    });

    it('every op round-trips, and ids: null (invalidateAll)', async () => {
      const schema = freshSchema('ops');
      const sent = [
        inv(schema, ['1'], 'set'),
        inv(schema, ['2'], 'invalidate'),
        inv(schema, null, 'invalidateAll'),
      ];
      for (const message of sent) await f().a.publish(message);
      await arrived(f().b, recB, schema, 3);
      expect(recB.of(schema)).toEqual(sent);
    });

    it('several messages arrive in publish order; concurrent ones all arrive', async () => {
      const schema = freshSchema('order');
      const sent = Array.from({ length: 30 }, (_, i) => inv(schema, [String(i)]));
      for (const message of sent) await f().a.publish(message);
      await arrived(f().b, recB, schema, 30);
      expect(recB.of(schema)).toEqual(sent);
      const parallel = freshSchema('parallel');
      await Promise.all(Array.from({ length: 50 }, (_, i) => f().a.publish(inv(parallel, [String(i)]))));
      await arrived(f().b, recB, parallel, 50);
      const ids = recB.of(parallel).map((m) => Number(m.ids?.[0]));
      expect(ids.sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    });

    it('a batch message with 1,000 ids arrives whole', async () => {
      const schema = freshSchema('batch');
      const ids = Array.from({ length: 1_000 }, (_, i) => `id-${i}-${'x'.repeat(i % 40)}`);
      await f().a.publish(inv(schema, ids));
      await arrived(f().b, recB, schema, 1);
      expect(recB.of(schema)[0]?.ids).toEqual(ids);
    });

    it('malformed messages injected raw are dropped and counted; the ones after them arrive', async () => {
      const schema = freshSchema('poison');
      const before = f().b.stats().dropped;
      const poison = [
        'not json',
        '',
        '[1,2,3]',
        JSON.stringify({ schema, ids: '1', op: 'set', origin: 'x' }),
        JSON.stringify({ schema, ids: ['1'], op: 'upsert', origin: 'x' }),
        `{"__proto__":{"polluted":true},"schema":"${schema}","ids":["1"],"op":"set","origin":"x"}`,
      ];
      for (const payload of poison) await f().injectRaw(payload);
      // The Go library Strata's message is valid: one id, no origin.
      await f().injectRaw(JSON.stringify({ schema, id: 'p1', op: 'set' }));
      await f().a.publish(inv(schema, ['after']));
      await arrived(f().b, recB, schema, 2);
      expect(recB.of(schema)).toEqual([
        { schema, ids: ['p1'], op: 'set', origin: '' },
        inv(schema, ['after']),
      ]);
      expect(f().b.stats().dropped - before).toBe(poison.length);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('publish rejects a message receivers would drop, and sends nothing', async () => {
      const before = f().a.stats().published;
      const error = await f()
        .a.publish(inv('', ['1']))
        .catch((e: unknown) => e);
      expect(isStrataError(error, 'ENCODE_FAILED')).toBe(true);
      expect(f().a.stats().published).toBe(before);
    });

    it('stats() counts published, received, and no gaps; a second subscribe() is refused', async () => {
      const schema = freshSchema('stats');
      const [a0, b0] = [f().a.stats(), f().b.stats()];
      for (const id of ['1', '2', '3']) await f().a.publish(inv(schema, [id]));
      await arrived(f().b, recB, schema, 3);
      expect(f().a.stats().published - a0.published).toBe(3);
      expect(f().b.stats().received - b0.received).toBe(3);
      expect(f().b.stats()).toMatchObject({ published: b0.published, dropped: b0.dropped, gaps: 0 });
      const again = await f()
        .b.subscribe(new Recorder())
        .catch((e: unknown) => e);
      expect(isStrataError(again, 'INVALID_CONFIG')).toBe(true);
    });

    it('time to coherence: 200 messages published on A, each delivered to B', async () => {
      const schema = freshSchema('latency');
      const samples: number[] = [];
      for (let i = 0; i < 200; i++) {
        const id = String(i);
        const delivered = recB.next((m) => m.schema === schema && m.ids?.[0] === id, WAIT.timeout);
        const started = performance.now();
        await f().a.publish(inv(schema, [id]));
        await f().deliver(f().b);
        await delivered;
        samples.push(performance.now() - started);
      }
      samples.sort((x, y) => x - y);
      const at = (p: number) => (samples[Math.ceil(p * samples.length) - 1] ?? Number.NaN).toFixed(2);
      console.info(
        `[bus ${name}] publish -> delivery over 200 messages: p50 ${at(0.5)} ms, p99 ${at(0.99)} ms`,
      );
      expect(recB.of(schema)).toHaveLength(200);
    });

    it('close() is idempotent, stops delivery, and refuses publish and subscribe after it', async () => {
      const other = await factory();
      try {
        const [ra, rb] = [new Recorder(), new Recorder()];
        await Promise.all([other.a.subscribe(ra), other.b.subscribe(rb)]);
        await Promise.all([other.b.close(), other.b.close()]);
        await other.b.close();
        const schema = freshSchema('closed');
        await other.a.publish(inv(schema, ['1']));
        // Once A has its own message, B (closed) would have had it too.
        await vi.waitFor(async () => {
          await other.deliver(other.a);
          await other.deliver(other.b);
          expect(ra.of(schema)).toHaveLength(1);
        }, WAIT);
        expect(rb.messages).toEqual([]);
        expect(isStrataError(await other.b.publish(inv(schema, ['2'])).catch((e: unknown) => e))).toBe(true);
        expect(isStrataError(await other.b.subscribe(new Recorder()).catch((e: unknown) => e))).toBe(true);
      } finally {
        await other.cleanup();
      }
    });
  });
}
