import { createServer, type Server } from 'node:net';
import { Redis } from '@upstash/redis';
import { Redis as Direct } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serviceUrls, uniqueName } from '../src/testing/env.js';
import type { UpstashEndpoint } from '../src/types.js';
import { startUpstashServer } from '../src/upstash/server.js';

// Only the commands Upstash's REST API offers reach Redis; the rest get Upstash's error shape.
const token = 'test-token-allowlist';
const prefix = `${uniqueName('upstash_allow')}:`;
let endpoint: UpstashEndpoint;
let redis: Redis;
let direct: Direct;

beforeAll(async () => {
  endpoint = await startUpstashServer({ redisUrl: serviceUrls().redisUrl, token });
  redis = new Redis({ url: endpoint.url, token, enableTelemetry: false, enableAutoPipelining: false });
  direct = new Direct(serviceUrls().redisUrl);
});

afterAll(async () => {
  const keys = await direct.keys(`${prefix}*`);
  if (keys.length > 0) await direct.del(...keys);
  direct?.disconnect();
  await endpoint?.stop();
});

function raw(path: string, body: unknown): Promise<Response> {
  return fetch(`${endpoint.url}${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
}

/** A TCP listener that counts the connections it gets: where a MIGRATE would have dialled. */
async function countingListener(): Promise<{ port: number; accepted: () => number; close: () => void }> {
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted += 1;
    socket.destroy();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('no port');
  return { port: address.port, accepted: () => accepted, close: () => server.close() };
}

describe('commands Upstash does not offer', () => {
  // Every refused command is picked to be harmless even if it did run (a no-op, our own connection,
  // our own listener): this test must not disturb the shared Redis when run against a broken build.
  it('MIGRATE, CLIENT KILL/PAUSE, CONFIG GET/SET, DEBUG, REPLICAOF… get 400 {"error"} and never reach Redis', async () => {
    const key = `${prefix}migrate`;
    await direct.set(key, 'stays');
    const listener = await countingListener();
    const victim = new Direct(serviceUrls().redisUrl, { retryStrategy: () => null });
    const victimId = String(await victim.client('ID'));
    const [, timeout] = (await direct.config('GET', 'timeout')) as [string, string];
    try {
      const refused: [string[], string][] = [
        [['MIGRATE', '127.0.0.1', String(listener.port), key, '0', '1000'], 'MIGRATE'],
        [['CLIENT', 'KILL', 'ID', victimId], 'CLIENT KILL'],
        [['client', 'pause', '1'], 'CLIENT PAUSE'],
        [['CONFIG', 'GET', 'timeout'], 'CONFIG GET'],
        [['config', 'set', 'timeout', timeout], 'CONFIG SET'],
        [['DEBUG', 'SLEEP', '0'], 'DEBUG SLEEP'],
        [['SHUTDOWN', 'ABORT'], 'SHUTDOWN'],
        [['REPLICAOF', 'NO', 'ONE'], 'REPLICAOF'],
        [['SCRIPT', 'KILL'], 'SCRIPT KILL'],
        [['INFO'], 'INFO'],
      ];
      for (const [command, shown] of refused) {
        const response = await raw('/', command);
        expect(response.status, shown).toBe(400);
        expect(await response.json(), shown).toEqual({
          error: `ERR ${shown} is not supported over REST: the Upstash REST API does not offer it`,
        });
      }
      // Inside a pipeline each one fails on its own; in a transaction nothing runs.
      const pipeline = await raw('/pipeline', [
        ['CONFIG', 'SET', 'timeout', timeout],
        ['GET', key],
      ]);
      expect(await pipeline.json()).toEqual([
        { error: 'ERR CONFIG SET is not supported over REST: the Upstash REST API does not offer it' },
        { result: 'stays' },
      ]);
      const multi = await raw('/multi-exec', [
        ['DEL', key],
        ['CLIENT', 'KILL', 'ID', victimId],
      ]);
      expect(multi.status).toBe(400);
      // The path form is the same command and gets the same answer.
      const path = await fetch(`${endpoint.url}/config/set/timeout/${timeout}?_token=${token}`);
      expect(path.status).toBe(400);

      expect(listener.accepted()).toBe(0);
      expect(await victim.ping()).toBe('PONG');
      expect(await direct.get(key)).toBe('stays');
    } finally {
      listener.close();
      victim.disconnect();
    }
  });

  it('the real client surfaces the error as UpstashError', async () => {
    await expect(redis.exec(['CONFIG', 'GET', 'maxmemory'])).rejects.toThrow(
      /^ERR CONFIG GET is not supported over REST: the Upstash REST API does not offer it, command was: /,
    );
    await expect(redis.exec(['CLIENT', 'LIST'])).rejects.toThrow(/ERR CLIENT LIST is not supported/);
  });
});

describe('what Upstash offers, and Strata uses, still works', () => {
  it('scripts (EVALSHA falling back to EVAL, EVAL_RO), MGET, streams, consumer groups, read-only server commands', async () => {
    const a = `${prefix}a`;
    const b = `${prefix}b`;
    await redis.mset({ [a]: '1', [b]: '2' });
    expect(await redis.mget(a, b, `${prefix}none`)).toEqual([1, 2, null]);
    // createScript sends EVALSHA first and EVAL on NOSCRIPT, as Strata's L2 does.
    const script = redis.createScript<string>(`return redis.call('GET', KEYS[1]) .. '${uniqueName('s')}'`);
    expect(await script.exec([a], [])).toMatch(/^1t_s_/);
    expect(await redis.evalRo('return redis.call("GET", KEYS[1])', [b], [])).toBe(2);
    expect(await redis.scriptExists(script.sha1)).toEqual([1]);

    const stream = `${prefix}stream`;
    const id = await redis.xadd(stream, '*', { field: 'value' });
    await redis.xgroup(stream, { type: 'CREATE', group: 'g', id: '0' });
    const read = await redis.xreadgroup('g', 'c', stream, '>');
    expect(read).toEqual([[stream, [[id, ['field', 'value']]]]]);
    expect(await redis.xack(stream, 'g', id)).toBe(1);
    expect(await redis.exec(['XINFO', 'GROUPS', stream])).toHaveLength(1);
    expect(await redis.exec(['PUBSUB', 'NUMSUB', `${prefix}chan`])).toEqual([`${prefix}chan`, 0]);
    expect(typeof (await redis.dbsize())).toBe('number');
    expect(await redis.time()).toHaveLength(2);
  });
});
