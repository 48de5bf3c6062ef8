import { Redis } from '@upstash/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceUrls, uniqueName } from '../src/testing/env.js';
import type { UpstashEndpoint } from '../src/types.js';
import { startUpstashServer } from '../src/upstash/server.js';

const token = 'test-token-core';
const prefix = `${uniqueName('upstash_core')}:`;
let endpoint: UpstashEndpoint;
let redis: Redis;
/** Without auto-pipelining every call is its own `POST /`, the single-command path. */
let direct: Redis;

beforeAll(async () => {
  endpoint = await startUpstashServer({ redisUrl: serviceUrls().redisUrl, token });
  redis = new Redis({ url: endpoint.url, token: endpoint.token, enableTelemetry: false });
  direct = new Redis({
    url: endpoint.url,
    token: endpoint.token,
    enableTelemetry: false,
    enableAutoPipelining: false,
  });
});

afterAll(async () => {
  if (direct) {
    let cursor = '0';
    do {
      const [next, keys] = await direct.scan(cursor, { match: `${prefix}*`, count: 500 });
      if (keys.length > 0) await direct.del(...keys);
      cursor = String(next);
    } while (cursor !== '0');
  }
  await endpoint?.stop();
});

function raw(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${endpoint.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
}

describe.each([
  ['auto-pipelined (POST /pipeline)', () => redis],
  ['direct (POST /)', () => direct],
])('strings via the client, %s', (_label, client) => {
  it('set/get round-trips and deserializes JSON values', async () => {
    const key = `${prefix}${uniqueName('sg')}`;
    expect(await client().set(key, 'hello')).toBe('OK');
    expect(await client().get(key)).toBe('hello');
    await client().set(key, { a: 1, list: [1, 'two'] });
    expect(await client().get(key)).toEqual({ a: 1, list: [1, 'two'] });
    expect(await client().get(`${key}:missing`)).toBeNull();
  });

  it('set with ex / px sets the TTL, nx refuses to overwrite', async () => {
    const key = `${prefix}${uniqueName('ttl')}`;
    expect(await client().set(key, 'v', { ex: 100 })).toBe('OK');
    const ttl = await client().ttl(key);
    expect(ttl).toBeGreaterThanOrEqual(99);
    expect(ttl).toBeLessThanOrEqual(100);

    await client().set(key, 'v', { px: 50_000 });
    const pttl = await client().pttl(key);
    expect(pttl).toBeGreaterThan(49_000);
    expect(pttl).toBeLessThanOrEqual(50_000);

    expect(await client().set(key, 'other', { nx: true })).toBeNull();
    expect(await client().get(key)).toBe('v');
    const fresh = `${prefix}${uniqueName('nx')}`;
    expect(await client().set(fresh, 'first', { nx: true })).toBe('OK');
    expect(await client().ttl(fresh)).toBe(-1);
  });

  it('mget, incr, del', async () => {
    const [a, b, c] = [1, 2, 3].map((n) => `${prefix}${uniqueName(`m${n}`)}`) as [string, string, string];
    await client().set(a, 'one');
    await client().set(b, 2);
    expect(await client().mget<[string, number, null]>(a, b, c)).toEqual(['one', 2, null]);
    expect(await client().incr(b)).toBe(3);
    expect(await client().incrby(b, 10)).toBe(13);
    expect(await client().del(a, b, c)).toBe(2);
    expect(await client().exists(a, b)).toBe(0);
  });

  it('surfaces Redis error replies with the Redis message', async () => {
    const key = `${prefix}${uniqueName('wrongtype')}`;
    await client().set(key, 'string');
    await expect(client().incr(key)).rejects.toThrow('ERR value is not an integer or out of range');
    await expect(client().lpush(key, 'x')).rejects.toThrow(
      /WRONGTYPE Operation against a key holding the wrong kind/,
    );
  });
});

describe('other data types', () => {
  it('hash commands: hset, hget, hgetall, hdel', async () => {
    const key = `${prefix}${uniqueName('hash')}`;
    expect(await redis.hset(key, { name: 'ada', age: 36, '1': 'numeric field' })).toBe(3);
    expect(await redis.hget(key, 'name')).toBe('ada');
    expect(await redis.hgetall(key)).toEqual({ name: 'ada', age: 36, '1': 'numeric field' });
    expect(await redis.hdel(key, 'age', 'nope')).toBe(1);
    expect(await redis.hgetall(key)).toEqual({ name: 'ada', '1': 'numeric field' });
    expect(await redis.hgetall(`${key}:missing`)).toBeNull();
  });

  it('hgetall arrives as a flat [field, value, …] array on the wire', async () => {
    const key = `${prefix}${uniqueName('hashraw')}`;
    await redis.hset(key, { f1: 'v1', f2: 'v2' });
    const response = await raw('/', ['HGETALL', key]);
    expect(response.status).toBe(200);
    const body = (await response.json()) as { result: string[] };
    const pairs = new Map<string, string>();
    for (let i = 0; i < body.result.length; i += 2) pairs.set(body.result[i]!, body.result[i + 1]!);
    expect(body.result).toHaveLength(4);
    expect(Object.fromEntries(pairs)).toEqual({ f1: 'v1', f2: 'v2' });
  });

  it('scan with match finds exactly the matching keys', async () => {
    const scope = `${prefix}${uniqueName('scan')}:`;
    const wanted = Array.from({ length: 25 }, (_, i) => `${scope}hit:${i}`);
    await Promise.all([...wanted.map((k) => redis.set(k, 1)), redis.set(`${scope}miss`, 1)]);
    const found = new Set<string>();
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, { match: `${scope}hit:*`, count: 10 });
      for (const k of keys) found.add(k);
      cursor = String(next);
    } while (cursor !== '0');
    expect([...found].sort()).toEqual([...wanted].sort());
  });

  it('eval runs a script with KEYS and ARGV', async () => {
    const key = `${prefix}${uniqueName('eval')}`;
    const script = "redis.call('SET', KEYS[1], ARGV[1]); return {redis.call('GET', KEYS[1]), #ARGV, 'OK'}";
    expect(await redis.eval(script, [key], ['from-lua', 'second'])).toEqual(['from-lua', 2, 'OK']);
    expect(await redis.get(key)).toBe('from-lua');
    const numbers = await redis.eval('return tonumber(ARGV[1]) * 2', [], ['21']);
    expect(numbers).toBe(42);
  });

  it('keeps integers beyond 2^53 exact on the wire', async () => {
    const key = `${prefix}${uniqueName('big')}`;
    const response = await raw('/', ['INCRBY', key, '9007199254740993']);
    expect(await response.text()).toBe('{"result":9007199254740993}');
  });
});

describe('pipeline and multi-exec', () => {
  it('pipeline returns results in order and keeps going after a failing command', async () => {
    const key = `${prefix}${uniqueName('pipe')}`;
    const results = await redis
      .pipeline()
      .set(key, 'text')
      .get(key)
      .incr(key)
      .set(`${key}:n`, 1)
      .incr(`${key}:n`)
      .exec({ keepErrors: true });
    expect(results.map((r) => r.error ?? null)).toEqual([
      null,
      null,
      'ERR value is not an integer or out of range',
      null,
      null,
    ]);
    expect(results.map((r) => r.result)).toEqual(['OK', 'text', undefined, 'OK', 2]);
    await expect(redis.pipeline().set(key, 1).lpush(key, 'x').exec()).rejects.toThrow(
      /Command 2 \[ lpush \] failed: WRONGTYPE/,
    );
  });

  it('multi-exec returns every result of the transaction', async () => {
    const key = `${prefix}${uniqueName('tx')}`;
    const results = await redis.multi().set(key, 10).incrby(key, 5).get(key).exec();
    expect(results).toEqual(['OK', 15, 15]);
  });

  it('multi-exec is atomic: a queueing error discards the whole transaction, unlike a pipeline', async () => {
    const key = `${prefix}${uniqueName('atomic')}`;
    await redis.set(key, 0);
    const broken = ['incr', key];
    const tx = await raw('/multi-exec', [broken, ['SET', key]]);
    expect(tx.status).toBe(400);
    expect(((await tx.json()) as { error: string }).error).toMatch(/^EXECABORT .*wrong number of arguments/);
    expect(await redis.get(key)).toBe(0);

    const pipe = await raw('/pipeline', [broken, ['SET', key]]);
    expect(pipe.status).toBe(200);
    const body = (await pipe.json()) as { result?: unknown; error?: string }[];
    expect(body[0]).toEqual({ result: 1 });
    expect(body[1]?.error).toMatch(/wrong number of arguments/);
    expect(await redis.get(key)).toBe(1);
  });

  it('multi-exec: concurrent transactions never see each other’s writes in between', async () => {
    const key = `${prefix}${uniqueName('isolation')}`;
    const runs = Array.from({ length: 40 }, (_, i) =>
      raw('/multi-exec', [
        ['SET', key, `value-${i}`],
        ['APPEND', key, '-tail'],
        ['GET', key],
      ]).then(async (response) => ((await response.json()) as { result: unknown }[])[2]?.result),
    );
    const seen = await Promise.all(runs);
    expect(seen).toEqual(Array.from({ length: 40 }, (_, i) => `value-${i}-tail`));
  });

  it('multi-exec rejects connection-state commands up front', async () => {
    const key = `${prefix}${uniqueName('txwatch')}`;
    const response = await raw('/multi-exec', [
      ['SET', key, '1'],
      ['WATCH', key],
    ]);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/WATCH is not supported/);
    expect(await redis.exists(key)).toBe(0);
  });
});
