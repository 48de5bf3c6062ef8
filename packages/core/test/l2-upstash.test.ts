import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '@strata/devstack';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isStrataError, type StrataError } from '../src/errors.js';
import type { L2Tier } from '../src/l2/types.js';
import { CircuitBreaker } from '../src/resilience/circuit-breaker.js';
import { guardL2 } from '../src/resilience/guard-l2.js';
import { createUpstashL2 } from '../src/upstash.js';
import { countingL2, describeL2Conformance, type L2Fixture, strataRejection } from '../testing/index.js';

function upstash(): { url: string; token: string } {
  const endpoint = testDevstack().upstash;
  if (endpoint === undefined) throw new Error('the devstack serves no Upstash endpoint (is Redis down?)');
  return endpoint;
}

/** A plain client for setup and cleanup, outside the tier under test. */
function adminClient(): Redis {
  return new Redis({ ...upstash(), automaticDeserialization: false, enableAutoPipelining: false });
}

async function deletePrefix(redis: Redis, prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, { match: `${prefix}*`, count: 1_000 });
    if (keys.length > 0) await redis.del(...keys);
    cursor = String(next);
  } while (cursor !== '0');
}

function fixture(make: () => L2Tier): () => Promise<L2Fixture> {
  return async () => {
    const prefix = `${uniqueName('l2_upstash')}:`;
    const tier = make();
    return {
      tier,
      prefix,
      cleanup: async () => {
        await deletePrefix(adminClient(), prefix);
        await tier.close();
      },
    };
  };
}

describeL2Conformance(
  'upstash, client built from url + token',
  fixture(() => createUpstashL2(upstash())),
);
describeL2Conformance(
  'upstash, a Redis handed in with automatic deserialization and auto-pipelining on',
  fixture(() => createUpstashL2(new Redis(upstash()))),
);

describe('upstash L2 specifics', () => {
  const prefix = `${uniqueName('l2_upstash_specific')}:`;
  const admin = adminClient();

  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await deletePrefix(admin, prefix);
  });

  it('makes exactly one HTTP request per call whatever the number of keys, none for empty lists', async () => {
    const l2 = createUpstashL2(upstash());
    // The client calls the global fetch per request; the spy calls through, so these are real requests.
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const requests = () =>
      fetchSpy.mock.calls.map(([url, init]) => ({
        path: new URL(String(url)).pathname,
        body: JSON.parse(String(init?.body)) as unknown[],
      }));
    const keys = Array.from({ length: 1_000 }, (_, i) => `${prefix}count:${i}`);

    expect(await l2.getMany([])).toEqual([]);
    await l2.setMany([]);
    expect(await l2.deleteMany([])).toBe(0);
    expect(fetchSpy).not.toHaveBeenCalled();

    await l2.setMany(keys.map((key, i) => ({ key, value: `v${i}`, ttlMs: i === 0 ? 0 : 60_000 })));
    expect(requests()).toHaveLength(1);
    const [set] = requests();
    expect(set?.path).toBe('/pipeline');
    expect(set?.body).toHaveLength(1_000);
    expect(set?.body[0]).toEqual(['set', keys[0], 'v0']);
    expect(set?.body[1]).toEqual(['set', keys[1], 'v1', 'px', 60_000]);

    const got = await l2.getMany(keys);
    expect(got.map((e) => e?.value)).toEqual(keys.map((_, i) => `v${i}`));
    expect(requests()).toHaveLength(2);
    expect(requests()[1]?.body.slice(0, 1)).toEqual(['eval_ro']);
    expect(requests()[1]?.body.slice(2, 4)).toEqual([1_000, keys[0]]);

    expect(await l2.deleteMany(keys)).toBe(1_000);
    expect(requests()).toHaveLength(3);
    expect(requests()[2]?.body).toEqual(['del', ...keys]);

    expect(await l2.incr(`${prefix}count:n`)).toBe(1);
    expect(await l2.getCounter(`${prefix}count:n`)).toBe(1);
    expect(requests().map((r) => r.path)).toEqual(['/pipeline', '/', '/', '/', '/']);
    expect(
      requests()
        .slice(3)
        .map((r) => r.body[0]),
    ).toEqual(['incr', 'get']);
  });

  it('reads raw strings even through a client that JSON-parses what GET returns', async () => {
    const parsing = new Redis(upstash());
    const l2 = createUpstashL2(parsing);
    await l2.setMany([
      { key: `${prefix}raw:num`, value: '42', ttlMs: 0 },
      { key: `${prefix}raw:obj`, value: '{"a":1}', ttlMs: 0 },
    ]);
    // The hazard: the same client's own GET hands back a number and an object.
    expect(await parsing.get(`${prefix}raw:num`)).toBe(42);
    expect(await parsing.get(`${prefix}raw:obj`)).toEqual({ a: 1 });
    expect(await l2.getMany([`${prefix}raw:num`, `${prefix}raw:obj`])).toEqual([
      { value: '42', ttlMs: 0 },
      { value: '{"a":1}', ttlMs: 0 },
    ]);
  });

  it('a wrong token fails the call', async () => {
    const l2 = createUpstashL2({ url: upstash().url, token: 'wrong-token' });
    await expect(l2.getMany([`${prefix}x`])).rejects.toThrow(/Unauthorized|401|token/i);
  });
});

describe('upstash L2 behind guardL2, against real endpoints', () => {
  it('a closed port: fails fast with L2_UNAVAILABLE, opens the breaker, then touches nothing', async () => {
    const port = await freePort();
    const inner = countingL2(createUpstashL2({ url: `http://127.0.0.1:${port}`, token: 'any' }));
    const breaker = new CircuitBreaker({ failureThreshold: 3, coolDownMs: '1m' });
    const errors: StrataError[] = [];
    const l2 = guardL2(inner.tier, { timeoutMs: 5_000, breaker, onError: (err) => errors.push(err) });

    for (let i = 0; i < 3; i++) {
      const started = performance.now();
      const error = await strataRejection(l2.getMany(['k']));
      expect(performance.now() - started).toBeLessThan(1_000);
      expect(error.code).toBe('L2_UNAVAILABLE');
      expect(error.details).toMatchObject({ tier: 'upstash', op: 'getMany', reason: 'error' });
      expect(error.cause).toBeInstanceOf(Error);
    }
    expect(breaker.stats()).toMatchObject({ state: 'open', failures: 3, opens: 1 });
    expect(inner.calls()).toBe(3);

    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const fast = await strataRejection(l2.incr('k'));
    expect(fast.details).toMatchObject({ reason: 'breaker-open' });
    expect(inner.calls()).toBe(3);
    expect(fetchSpy).not.toHaveBeenCalled();
    expect(breaker.stats().rejected).toBe(1);
    expect(errors).toHaveLength(4);
    fetchSpy.mockRestore();
  });

  describe('an endpoint that accepts and never answers', () => {
    let server: Server;
    let url: string;

    beforeAll(async () => {
      server = createServer(() => {
        // Never respond: the request just hangs, like an overloaded or half-dead endpoint.
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('times out: L2_UNAVAILABLE caused by TIMEOUT, counted by the breaker', async () => {
      const breaker = new CircuitBreaker({ failureThreshold: 2 });
      const onError = vi.fn<(err: StrataError) => void>();
      const l2 = guardL2(createUpstashL2({ url, token: 'any' }), { timeoutMs: 150, breaker, onError });
      const started = performance.now();
      const error = await strataRejection(l2.getMany(['k']));
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(145);
      expect(elapsed).toBeLessThan(2_000);
      expect(error.code).toBe('L2_UNAVAILABLE');
      expect(error.details).toMatchObject({ reason: 'timeout' });
      expect(isStrataError(error.cause, 'TIMEOUT')).toBe(true);
      expect(onError).toHaveBeenCalledWith(error);
      await strataRejection(l2.setMany([{ key: 'k', value: 'v', ttlMs: 0 }]));
      expect(breaker.stats()).toMatchObject({ state: 'open', failures: 2 });
    });
  });
});
