import { Redis } from '@upstash/redis';
import { Redis as Direct } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { serviceUrls, uniqueName } from '../src/testing/env.js';
import type { UpstashEndpoint } from '../src/types.js';
import { startUpstashServer } from '../src/upstash/server.js';

const token = 'test-token-blocking';
const prefix = `${uniqueName('upstash_block')}:`;
let endpoint: UpstashEndpoint;
/** Separate clients: one auto-pipeline would put BLPOP and LPUSH in the same (ordered) pipeline. */
let waiter: Redis;
let other: Redis;
/** Straight to Redis: CLIENT LIST is not something the REST endpoint serves. */
let observer: Direct;

const client = (url: string) =>
  new Redis({
    url,
    token,
    enableTelemetry: false,
    enableAutoPipelining: false,
    automaticDeserialization: false,
  });

beforeAll(async () => {
  endpoint = await startUpstashServer({ redisUrl: serviceUrls().redisUrl, token });
  waiter = client(endpoint.url);
  other = client(endpoint.url);
  observer = new Direct(serviceUrls().redisUrl);
});

afterAll(async () => {
  if (other) {
    const keys = await other.keys(`${prefix}*`);
    if (keys.length > 0) await other.del(...keys);
  }
  await endpoint?.stop();
  observer?.disconnect();
});

/** Settles-tracking wrapper: lets a test assert a promise is still pending without sleeping. */
function track<T>(promise: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const tracked = promise.finally(() => {
    done = true;
  });
  return { promise: tracked, settled: () => done };
}

/** Ids of this server kind's connections parked in a blocking `command` in Redis right now. */
async function blockedIds(command: string): Promise<Set<string>> {
  const list = (await observer.client('LIST')) as string;
  const ids = list
    .split('\n')
    .filter((line) => line.includes('name=strata-upstash-blocking') && line.includes(`cmd=${command}`))
    .map((line) => /\bid=(\d+)/.exec(line)?.[1] ?? '');
  return new Set(ids);
}

/**
 * Waits until a new connection is parked in `command` and returns its id. Other test files may block too,
 * so the id is what identifies ours.
 */
async function parkedConnection(command: string, before: Set<string>): Promise<string> {
  return vi.waitFor(async () => {
    const fresh = [...(await blockedIds(command))].filter((id) => !before.has(id));
    expect(fresh).toHaveLength(1);
    return fresh[0]!;
  });
}

describe('blocking commands', () => {
  it('BLPOP waits on its own connection while other requests keep flowing', async () => {
    const list = `${prefix}${uniqueName('queue')}`;
    const counter = `${prefix}${uniqueName('counter')}`;
    const before = await blockedIds('blpop');
    const popped = track(waiter.exec(['BLPOP', list, '10']));
    await parkedConnection('blpop', before);

    // Fifty round trips through the same server while the BLPOP is parked.
    for (let i = 0; i < 50; i += 1) await other.incr(counter);
    expect(await other.get(counter)).toBe('50');
    expect(popped.settled()).toBe(false);

    expect(await other.rpush(list, 'job-1')).toBe(1);
    expect(await popped.promise).toEqual([list, 'job-1']);
    expect(await other.llen(list)).toBe(0);
  });

  it('BLPOP times out with null', async () => {
    const started = Date.now();
    expect(await waiter.exec(['BLPOP', `${prefix}${uniqueName('empty')}`, '0.2'])).toBeNull();
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
  });

  it('a blocking command inside a pipeline keeps pipeline order', async () => {
    const list = `${prefix}${uniqueName('pipe')}`;
    const response = await fetch(`${endpoint.url}/pipeline`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify([
        ['RPUSH', list, 'a'],
        ['BLPOP', list, '1'],
        ['LLEN', list],
        ['RPUSH', list, 'b'],
      ]),
    });
    expect(await response.json()).toEqual([
      { result: 1 },
      { result: [list, 'a'] },
      { result: 0 },
      { result: 1 },
    ]);
  });

  it('BLMOVE / BZPOPMIN on dedicated connections', async () => {
    const source = `${prefix}${uniqueName('src')}`;
    const target = `${prefix}${uniqueName('dst')}`;
    const before = await blockedIds('blmove');
    const moved = track(waiter.exec(['BLMOVE', source, target, 'LEFT', 'RIGHT', '10']));
    await parkedConnection('blmove', before);
    await other.rpush(source, 'm');
    expect(await moved.promise).toBe('m');
    expect(await other.lrange(target, 0, -1)).toEqual(['m']);

    const zset = `${prefix}${uniqueName('z')}`;
    await other.zadd(zset, { score: 2, member: 'b' }, { score: 1, member: 'a' });
    expect(await waiter.exec(['BZPOPMIN', zset, '1'])).toEqual([zset, 'a', '1']);
  });

  it('a client that gives up on a BLPOP frees its Redis connection', async () => {
    const list = `${prefix}${uniqueName('abandoned')}`;
    const before = await blockedIds('blpop');
    const controller = new AbortController();
    const request = fetch(`${endpoint.url}/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify(['BLPOP', list, '0']),
      signal: controller.signal,
    });
    const parked = await parkedConnection('blpop', before);
    controller.abort();
    await expect(request).rejects.toThrow();
    await vi.waitFor(async () => expect(await blockedIds('blpop')).not.toContain(parked));
    // Nobody is left waiting on the list: a pushed element stays there.
    await other.rpush(list, 'kept');
    expect(await other.lrange(list, 0, -1)).toEqual(['kept']);
  });
});

describe('stop()', () => {
  it('closes open SSE streams and blocking requests, and releases their Redis connections', async () => {
    const local = await startUpstashServer({ redisUrl: serviceUrls().redisUrl, token });
    const channel = `${prefix}${uniqueName('stopchan')}`;
    const list = `${prefix}${uniqueName('stoplist')}`;

    const stream = await fetch(`${local.url}/subscribe/${channel}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    });
    const reader = stream.body!.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe(`data: subscribe,${channel},1\n\n`);

    const before = await blockedIds('blpop');
    const blocked = fetch(`${local.url}/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: JSON.stringify(['BLPOP', list, '0']),
    }).then(
      async (response) => ({ status: response.status, body: await response.text() }),
      (error: unknown) => ({ status: 0, body: String(error) }),
    );
    const parked = await parkedConnection('blpop', before);

    await local.stop();

    // The SSE stream ended instead of hanging.
    expect((await reader.read()).done).toBe(true);
    // The blocked request was answered with an error, not left hanging.
    expect(await blocked).toEqual({
      status: 503,
      body: JSON.stringify({
        error: 'ERR blocking command aborted: the client went away or the server is stopping',
      }),
    });
    // Both dedicated connections are gone once stop() resolves.
    expect(await blockedIds('blpop')).not.toContain(parked);
    const numsub = (await other.exec(['PUBSUB', 'NUMSUB', channel])) as [string, number];
    expect(numsub[1]).toBe(0);
    await other.rpush(list, 'kept');
    expect(await other.lrange(list, 0, -1)).toEqual(['kept']);
    // And the port no longer answers.
    await expect(fetch(`${local.url}/`, { method: 'POST', body: '["PING"]' })).rejects.toThrow();
  });

  it('start fails clearly when Redis is unreachable', async () => {
    await expect(startUpstashServer({ redisUrl: 'redis://127.0.0.1:1', token })).rejects.toThrow(
      /cannot reach Redis at redis:\/\/127\.0\.0\.1:1/,
    );
  });
});
