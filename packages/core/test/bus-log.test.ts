import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import type { InvalidationBus } from '../src/bus/types.js';
import { isStrataError } from '../src/errors.js';
import { createUpstashLogBus } from '../src/upstash/index.js';
import {
  type BusFixture,
  busProbe,
  describeBusConformance,
  receivedIds,
  sampleInvalidation,
} from '../testing/index.js';

function upstash(): { url: string; token: string } {
  const endpoint = testDevstack().upstash;
  if (endpoint === undefined) throw new Error('the devstack serves no Upstash endpoint (is Redis down?)');
  return endpoint;
}

/** A plain client for setup, raw XADDs and cleanup, outside the buses under test. */
const admin = new Redis({ ...upstash(), automaticDeserialization: false, enableAutoPipelining: false });

function fixture(client: () => Redis | undefined): () => Promise<BusFixture> {
  return async () => {
    const stream = uniqueName('bus_log');
    const make = () => {
      const redis = client();
      return createUpstashLogBus(redis ? { redis, stream } : { ...upstash(), stream });
    };
    const [a, b] = [make(), make()];
    return {
      a,
      b,
      deliver: (bus) => bus.poll?.() ?? Promise.resolve(),
      injectRaw: async (payload) => {
        await admin.xadd(stream, '*', { m: payload });
      },
      cleanup: async () => {
        await Promise.all([a.close(), b.close()]);
        await admin.del(stream);
      },
    };
  };
}

describeBusConformance(
  'upstash log, client built from url + token',
  fixture(() => undefined),
);
describeBusConformance(
  'upstash log, a Redis handed in with automatic deserialization on',
  fixture(() => new Redis(upstash())),
);

describe('upstash log bus specifics', () => {
  const streams: string[] = [];
  const buses: InvalidationBus[] = [];
  /** A bus on a fresh stream (deleted after the file), subscribed to a probe. */
  async function started(options: { maxLen?: number; batchSize?: number } = {}) {
    const stream = uniqueName('bus_log_specific');
    streams.push(stream);
    const bus = createUpstashLogBus({ ...upstash(), stream, ...options });
    buses.push(bus);
    const seen = busProbe();
    await bus.subscribe(seen);
    const poll = () => bus.poll?.() ?? Promise.resolve();
    return { stream, bus, seen, poll };
  }

  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await Promise.all(buses.map((bus) => bus.close()));
    if (streams.length > 0) await admin.del(...streams);
  });

  it('subscribe() sets the cursor at the end: history is not delivered', async () => {
    const { stream, bus: writer } = await started();
    for (const id of ['old-1', 'old-2']) await writer.publish(sampleInvalidation(id));
    const reader = createUpstashLogBus({ ...upstash(), stream });
    buses.push(reader);
    const seen = busProbe();
    await reader.subscribe(seen);
    await reader.poll?.();
    expect(seen.messages).toEqual([]);
    await writer.publish(sampleInvalidation('new'));
    await reader.poll?.();
    expect(receivedIds(seen)).toEqual(['new']);
  });

  it('a log trimmed past the cursor: gap(), the cursor moves to the end, later messages arrive', async () => {
    const { stream, bus, seen, poll } = await started();
    await bus.publish(sampleInvalidation('read'));
    await poll();
    for (const id of ['missed-1', 'missed-2']) await bus.publish(sampleInvalidation(id));
    expect(await admin.xtrim(stream, { strategy: 'MAXLEN', threshold: 0, exactness: '=' })).toBe(3);
    await poll();
    expect(seen.gaps).toBe(1);
    expect(bus.stats().gaps).toBe(1);
    expect(receivedIds(seen)).toEqual(['read']);
    await poll(); // The cursor moved: the same trim is not a second gap.
    expect(seen.gaps).toBe(1);
    await bus.publish(sampleInvalidation('later'));
    await poll();
    expect(receivedIds(seen)).toEqual(['read', 'later']);
    expect(seen.gaps).toBe(1);
  });

  it('a partial trim that removed unread entries is a gap; the entries left are skipped', async () => {
    const { stream, bus, seen, poll } = await started();
    for (const id of ['1', '2', '3']) await bus.publish(sampleInvalidation(id));
    await admin.xtrim(stream, { strategy: 'MAXLEN', threshold: 1, exactness: '=' });
    await poll();
    expect(seen).toMatchObject({ gaps: 1, messages: [] });
  });

  it('trimming only what was read is no gap, even when the cursor entry itself goes', async () => {
    const { stream, bus, seen, poll } = await started();
    for (const id of ['1', '2', '3']) await bus.publish(sampleInvalidation(id));
    await poll();
    for (const id of ['4', '5']) await bus.publish(sampleInvalidation(id));
    await admin.xtrim(stream, { strategy: 'MAXLEN', threshold: 2, exactness: '=' }); // Leaves 4 and 5.
    await poll();
    expect(seen.gaps).toBe(0);
    expect(receivedIds(seen)).toEqual(['1', '2', '3', '4', '5']);
  });

  it('a deleted stream is a gap; a new one is read from its start', async () => {
    const { stream, bus, seen, poll } = await started();
    await bus.publish(sampleInvalidation('before'));
    await poll();
    await admin.del(stream);
    await poll();
    expect(seen.gaps).toBe(1);
    await bus.publish(sampleInvalidation('after'));
    await poll();
    expect(receivedIds(seen)).toEqual(['before', 'after']);
    expect(seen.gaps).toBe(1);
  });

  it('publish is one XADD with MAXLEN ~; the log stays near maxLen', async () => {
    const { stream, bus } = await started({ maxLen: 10 });
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    await bus.publish(sampleInvalidation('1'));
    expect(fetchSpy).toHaveBeenCalledTimes(1);
    const body = JSON.parse(String(fetchSpy.mock.calls[0]?.[1]?.body)) as unknown[];
    expect(body.slice(0, 6)).toEqual(['XADD', stream, 'MAXLEN', '~', 10, '*']);
    expect(body.slice(6, 7)).toEqual(['m']);
    fetchSpy.mockRestore();
    for (let i = 0; i < 300; i++) await bus.publish(sampleInvalidation(String(i)));
    const length = await admin.xlen(stream);
    // Approximate trimming drops whole radix-tree nodes (100 entries by default).
    expect(length).toBeGreaterThanOrEqual(10);
    expect(length).toBeLessThan(200);
  });

  it('one poll reads page after page until the log is drained', async () => {
    const { bus, seen, poll } = await started({ batchSize: 5 });
    for (let i = 0; i < 12; i++) await bus.publish(sampleInvalidation(String(i)));
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    await poll();
    expect(receivedIds(seen)).toEqual(Array.from({ length: 12 }, (_, i) => String(i)));
    expect(fetchSpy).toHaveBeenCalledTimes(3); // 5 + 5 + 2
  });

  it('concurrent polls share one request', async () => {
    const { bus, seen, poll } = await started();
    await bus.publish(sampleInvalidation('once'));
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    await Promise.all([poll(), poll(), poll()]);
    expect(fetchSpy).toHaveBeenCalledTimes(1);
    expect(receivedIds(seen)).toEqual(['once']);
  });

  it('poll() before subscribe() or after close() does nothing', async () => {
    const bus = createUpstashLogBus({ ...upstash(), stream: uniqueName('bus_log_idle') });
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    await bus.poll?.();
    await bus.close();
    await bus.poll?.();
    expect(fetchSpy).not.toHaveBeenCalled();
  });

  it('after a failed subscribe(), the next poll starts at the end with a gap', async () => {
    const stream = uniqueName('bus_log_failed');
    streams.push(stream);
    const bus = createUpstashLogBus({ ...upstash(), stream });
    buses.push(bus);
    const seen = busProbe();
    // Once: the bus's client sends each command once (`retry: { retries: 0 }`, see upstash/client.ts).
    vi.spyOn(globalThis, 'fetch').mockRejectedValueOnce(new TypeError('fetch failed'));
    await expect(bus.subscribe(seen)).rejects.toThrow('fetch failed');
    await bus.publish(sampleInvalidation('meanwhile'));
    await bus.poll?.();
    expect(seen).toMatchObject({ gaps: 1, messages: [] });
    await bus.publish(sampleInvalidation('next'));
    await bus.poll?.();
    expect(receivedIds(seen)).toEqual(['next']);
  });

  it('rejects a maxLen or batchSize that is not a positive integer', () => {
    for (const bad of [{ maxLen: 0 }, { batchSize: -1 }, { maxLen: 1.5 }, { batchSize: Number.NaN }]) {
      let error: unknown;
      try {
        createUpstashLogBus({ ...upstash(), ...bad });
      } catch (e) {
        error = e;
      }
      expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
    }
  });
});
