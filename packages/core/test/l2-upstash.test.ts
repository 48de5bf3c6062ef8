import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { freePort } from '@strata/devstack';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { isStrataError, type StrataError } from '../src/errors.js';
import { PUT } from '../src/l2/scripts.js';
import type { L2Script, L2Tier } from '../src/l2/types.js';
import { CircuitBreaker } from '../src/resilience/circuit-breaker.js';
import { guardL2 } from '../src/resilience/guard-l2.js';
import { createUpstashL2 } from '../src/upstash/index.js';
// The L2 modules, not the testing index: this file needs none of the other suites.
import { describeL2Conformance, type L2Fixture, type L2RawClient } from '../testing/l2-conformance.js';
import {
  countingL2,
  envelope,
  generationKey,
  runPut,
  scriptSha1,
  strataRejection,
  tickKey,
} from '../testing/l2-helpers.js';

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

/** The conformance suite's raw client: the admin client, strings in and out. */
function rawClient(redis: Redis): L2RawClient {
  return {
    get: (key) => redis.get<string>(key),
    set: async (key, value) => {
      await redis.set(key, value);
    },
    pttl: (key) => redis.pttl(key),
    scriptExists: async (sha1) => (await redis.scriptExists(sha1))[0] === 1,
  };
}

/** HTTP requests made while `during` runs: the client sends each with the global fetch. */
async function fetches(during: () => Promise<unknown>): Promise<number> {
  const spy = vi.spyOn(globalThis, 'fetch');
  try {
    await during();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

function fixture(make: () => L2Tier): () => Promise<L2Fixture> {
  return async () => {
    const prefix = `${uniqueName('l2conf')}:`;
    const tier = make();
    const admin = adminClient();
    return {
      tier,
      prefix,
      raw: rawClient(admin),
      roundTrips: fetches,
      cleanup: async () => {
        await deletePrefix(admin, prefix);
        await tier.close();
      },
    };
  };
}

describeL2Conformance(
  'upstash, client built from url + token',
  fixture(() => createUpstashL2(upstash())),
  { rawStrings: 'bom-dropped' },
);
describeL2Conformance(
  'upstash, a Redis handed in with automatic deserialization and auto-pipelining on',
  fixture(() => createUpstashL2(new Redis(upstash()))),
  { rawStrings: 'json-parsed' },
);

describe('upstash L2 specifics', () => {
  const prefix = `${uniqueName('l2conf')}:`;
  const admin = adminClient();

  afterEach(() => {
    vi.restoreAllMocks();
  });
  afterAll(async () => {
    await deletePrefix(admin, prefix);
  });

  it('getMany is one MGET request, run one EVALSHA request, whatever the number of keys; none for empty lists', async () => {
    const l2 = createUpstashL2(upstash());
    const keys = Array.from({ length: 1_000 }, (_, i) => `${prefix}count:${i}`);
    const args = [
      '1000',
      ...keys.flatMap((_, i) => [String(i), i === 0 ? '0' : '60000', envelope(i, `v${i}`)]),
    ];
    // Loaded once, so the request counted below is the EVALSHA alone.
    await runPut(l2, [{ key: keys[0]!, version: 0, value: envelope(0, 'v0') }]);
    const sha = await scriptSha1(PUT);

    // The client calls the global fetch per request; the spy calls through, so these are real requests.
    const fetchSpy = vi.spyOn(globalThis, 'fetch');
    const requests = () =>
      fetchSpy.mock.calls.map(([url, init]) => ({
        path: new URL(String(url)).pathname,
        body: JSON.parse(String(init?.body)) as unknown[],
      }));

    expect(await l2.getMany([])).toEqual([]);
    expect(fetchSpy).not.toHaveBeenCalled();

    const tick = tickKey(keys[0]!);
    const gen = generationKey(keys[0]!);
    const reply = (await l2.run(PUT, [tick, gen, ...keys], ['0', ...args])) as unknown[];
    expect(reply.slice(2)).toEqual(keys.map(() => 1));
    expect(requests()).toHaveLength(1);
    expect(requests()[0]?.path).toBe('/');
    expect(requests()[0]?.body).toEqual(['evalsha', sha, 1_002, tick, gen, ...keys, '0', ...args]);

    const got = await l2.getMany(keys);
    expect(got).toEqual(keys.map((_, i) => envelope(i, `v${i}`)));
    expect(requests()).toHaveLength(2);
    expect(requests()[1]?.body).toEqual(['mget', ...keys]);
  });

  it('a client that JSON-parses replies still reads every envelope exactly; JSON text reads as a miss', async () => {
    const parsing = new Redis(upstash());
    const l2 = createUpstashL2(parsing);
    const keys = ['raw:num', 'raw:obj', 'raw:env', 'raw:env-json'].map((k) => `${prefix}${k}`);
    const values = ['42', '{"a":1}', envelope(1, '{"a":1}'), envelope(2, '42')];
    await Promise.all(keys.map((k, i) => admin.set(k, values[i]!)));
    // The hazard: the same client's own GET hands back a number and an object.
    expect(await parsing.get(keys[0]!)).toBe(42);
    expect(await parsing.get(keys[1]!)).toEqual({ a: 1 });
    // `~…` is never JSON, so every value Strata writes comes through; what is not a string is no value.
    expect(await l2.getMany(keys)).toEqual([null, null, values[2], values[3]]);
  });

  it('replies come as JSON text, not base64: a leading U+FEFF survives', async () => {
    const l2 = createUpstashL2(upstash());
    await admin.set(`${prefix}bom`, '\uFEFFbom');
    await admin.set(`${prefix}bom:env`, envelope(1, '\uFEFFbom'));
    expect(await l2.getMany([`${prefix}bom`, `${prefix}bom:env`])).toEqual([
      '\uFEFFbom',
      envelope(1, '\uFEFFbom'),
    ]);
  });

  it('a client handed in with base64 replies drops a leading U+FEFF (never the start of a value Strata writes)', async () => {
    const l2 = createUpstashL2(new Redis({ ...upstash(), automaticDeserialization: false }));
    await admin.set(`${prefix}bom64`, '\uFEFFbom');
    await admin.set(`${prefix}bom64:env`, envelope(1, '\uFEFFbom'));
    expect(await l2.getMany([`${prefix}bom64`, `${prefix}bom64:env`])).toEqual([
      'bom',
      envelope(1, '\uFEFFbom'),
    ]);
  });

  it('close() leaves a client handed in open', async () => {
    const client = new Redis({ ...upstash(), automaticDeserialization: false });
    const l2 = createUpstashL2(client);
    await l2.close();
    await l2.close();
    expect(await client.set(`${prefix}borrowed`, 'still works')).toBe('OK');
    expect(await client.get(`${prefix}borrowed`)).toBe('still works');
    expect(await l2.getMany([`${prefix}borrowed`])).toEqual(['still works']);
  });

  it('a wrong token fails the call', async () => {
    const l2 = createUpstashL2({ url: upstash().url, token: 'wrong-token' });
    await expect(l2.getMany([`${prefix}x`])).rejects.toThrow(/Unauthorized|401|token/i);
    await expect(l2.run(PUT, [`${prefix}x`], ['1', '1', '0', 'v'])).rejects.toThrow(
      /Unauthorized|401|token/i,
    );
  });
});

/** A script that would touch Redis, for the calls below that must never reach it. */
const NOOP: L2Script = { name: 'noop', source: 'return 1' };

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
    const fast = await strataRejection(l2.run(NOOP, ['k'], []));
    expect(fast.details).toMatchObject({ op: 'noop', reason: 'breaker-open' });
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
      await strataRejection(l2.run(NOOP, ['k'], []));
      expect(breaker.stats()).toMatchObject({ state: 'open', failures: 2 });
    });
  });
});

describe('createUpstashL2 given no URL', () => {
  it('says the variable is not set, rather than that undefined is not a REST URL', () => {
    // `env.UPSTASH_REDIS_REST_URL!` with no .env loaded (the devstack not started, no --env-file).
    let err: unknown;
    try {
      createUpstashL2({ url: undefined as unknown as string, token: 't' });
    } catch (caught) {
      err = caught;
    }
    expect(isStrataError(err, 'INVALID_CONFIG'), String(err)).toBe(true);
    expect((err as StrataError).message).toBe(
      'strata: UPSTASH_REDIS_REST_URL is not set: pass the REST URL, https://… (locally, the one the devstack prints)',
    );
    expect((err as StrataError).details).toEqual({ field: 'url' });
  });
});

describe('createUpstashL2 given a URL that is not a REST URL', () => {
  it.each([
    'rediss://default:secret@eu1-example.upstash.io:6379',
    'redis://127.0.0.1:6379',
    '127.0.0.1:6379',
    '',
  ])('refuses %j with INVALID_CONFIG naming the binding and the REST URL, not the password', (url) => {
    let err: unknown;
    try {
      createUpstashL2({ url, token: 't' });
    } catch (caught) {
      err = caught;
    }
    expect(isStrataError(err, 'INVALID_CONFIG'), String(err)).toBe(true);
    const { message, details } = err as StrataError;
    expect(message).toBe('strata: UPSTASH_REDIS_REST_URL must be the REST URL, https://…');
    expect(details).toEqual({ field: 'url' });
    expect(message).not.toContain('secret');
  });
});
