import { request } from 'node:http';
import { Redis as Direct } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { serviceUrls, uniqueName } from '../src/testing/env.js';
import type { UpstashEndpoint } from '../src/types.js';
import { MAX_COMMAND_ARGS } from '../src/upstash/commands.js';
import { startUpstashServer, type UpstashServerOptions } from '../src/upstash/server.js';

// Hostile sizes and waits get clear errors, and the endpoint's use of Redis stays bounded.
const token = 'test-token-limits';
/** Upstash's request size limit, which the endpoint applies by default. */
const TEN_MIB = 10 * 1024 * 1024;
const prefix = `${uniqueName('upstash_limits')}:`;
const { redisUrl } = serviceUrls();
const started: UpstashEndpoint[] = [];
let direct: Direct;

async function start(options: Partial<UpstashServerOptions> = {}): Promise<UpstashEndpoint> {
  const endpoint = await startUpstashServer({ redisUrl, token, ...options });
  started.push(endpoint);
  return endpoint;
}

async function post(endpoint: UpstashEndpoint, body: unknown, signal?: AbortSignal) {
  const response = await fetch(`${endpoint.url}/`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    signal: signal ?? AbortSignal.timeout(10_000),
  });
  return { status: response.status, json: (await response.json()) as { result?: unknown; error?: string } };
}

/** Ids of blocking-command connections (any server's) parked in `command` in Redis right now. */
async function parked(command: string): Promise<Set<string>> {
  const list = (await direct.client('LIST')) as string;
  return new Set(
    list
      .split('\n')
      .filter((line) => line.includes('name=strata-upstash-blocking') && line.includes(`cmd=${command}`))
      .map((line) => /\bid=(\d+)/.exec(line)?.[1] ?? ''),
  );
}

beforeAll(() => {
  direct = new Direct(redisUrl);
});

afterAll(async () => {
  for (const endpoint of started) await endpoint.stop();
  const keys = await direct.keys(`${prefix}*`);
  if (keys.length > 0) await direct.del(...keys);
  direct?.disconnect();
});

describe('blocking commands', () => {
  it('a wait for ever (0) or longer than the cap ends at the cap with the timeout reply', async () => {
    const endpoint = await start({ maxBlockSeconds: 0.3 });
    for (const command of [
      ['BLPOP', `${prefix}empty`, '0'],
      ['BRPOP', `${prefix}empty`, '3600'],
      ['BLMPOP', '0', '1', `${prefix}empty`, 'LEFT'],
      ['XREAD', 'BLOCK', '0', 'STREAMS', `${prefix}stream`, '$'],
    ]) {
      const began = performance.now();
      expect(await post(endpoint, command), command[0]).toEqual({ status: 200, json: { result: null } });
      const waited = performance.now() - began;
      expect(waited, command[0]).toBeGreaterThanOrEqual(250);
      expect(waited, command[0]).toBeLessThan(5_000);
    }
  });

  it('past the concurrent limit a blocking command gets 429; a freed place serves the next', async () => {
    const endpoint = await start({ maxBlockingCommands: 2, maxBlockSeconds: 10 });
    const lists = [`${prefix}${uniqueName('l')}`, `${prefix}${uniqueName('l')}`];
    const before = await parked('blpop');
    const waiting = lists.map((list) => post(endpoint, ['BLPOP', list, '0']));
    await vi.waitFor(async () => {
      const fresh = [...(await parked('blpop'))].filter((id) => !before.has(id));
      expect(fresh).toHaveLength(2);
    });
    expect(await post(endpoint, ['BLPOP', `${prefix}third`, '0.2'])).toEqual({
      status: 429,
      json: { error: 'ERR too many blocking commands waiting (the limit is 2): retry once one has returned' },
    });
    // Non-blocking commands are not held up.
    expect(await post(endpoint, ['PING'])).toEqual({ status: 200, json: { result: 'PONG' } });

    await direct.rpush(lists[0]!, 'one');
    await direct.rpush(lists[1]!, 'two');
    expect((await Promise.all(waiting)).map((reply) => reply.json.result)).toEqual([
      [lists[0], 'one'],
      [lists[1], 'two'],
    ]);
    expect(await post(endpoint, ['BLPOP', `${prefix}third`, '0.05'])).toEqual({
      status: 200,
      json: { result: null },
    });
  });

  it('refuses nonsense limits with a clear error before connecting anywhere', async () => {
    await expect(startUpstashServer({ redisUrl, token, maxBlockingCommands: 0 })).rejects.toThrow(
      new RangeError('maxBlockingCommands must be a positive number, not 0'),
    );
    await expect(startUpstashServer({ redisUrl, token, maxBodyBytes: Number.NaN })).rejects.toThrow(
      RangeError,
    );
  });
});

describe('request sizes', () => {
  it('a body over 10 MiB gets 413; one just under it is served', async () => {
    const endpoint = await start();
    const key = `${prefix}big`;
    const overhead = JSON.stringify(['SET', key, '']).length;
    const fits = await post(endpoint, ['SET', key, 'x'.repeat(TEN_MIB - overhead)]);
    expect(fits).toEqual({ status: 200, json: { result: 'OK' } });
    expect(await direct.strlen(key)).toBe(TEN_MIB - overhead);

    const over = await post(endpoint, ['SET', key, 'y'.repeat(TEN_MIB - overhead + 1)]);
    expect(over).toEqual({
      status: 413,
      json: {
        error: `ERR request body larger than ${TEN_MIB} bytes, the most one request may carry`,
      },
    });
    expect(await direct.strlen(key)).toBe(TEN_MIB - overhead);
  });

  it(`a command with more than ${MAX_COMMAND_ARGS} arguments gets 400; one at the limit is served`, async () => {
    const endpoint = await start();
    const many = ['EXISTS', ...Array.from({ length: 1_000_000 }, (_, i) => String(i))];
    expect(await post(endpoint, many)).toEqual({
      status: 400,
      json: { error: `ERR a command may have at most ${MAX_COMMAND_ARGS} arguments, this one has 1000001` },
    });
    const atLimit = ['EXISTS', ...Array.from({ length: MAX_COMMAND_ARGS - 1 }, (_, i) => `${prefix}${i}`)];
    expect(await post(endpoint, atLimit)).toEqual({ status: 200, json: { result: 0 } });
  });

  it('bodies held at once are bounded: past the budget a request gets 503 until the bytes are released', async () => {
    const endpoint = await start({ maxInflightBodyBytes: 1024 * 1024 });
    const { hostname, port } = new URL(endpoint.url);
    // A request that sends 700 KiB of its body and then stalls, holding them.
    const stalled = request({
      host: hostname,
      port,
      method: 'POST',
      path: '/',
      headers: { authorization: `Bearer ${token}`, 'content-length': 2 * 1024 * 1024 },
    });
    stalled.on('error', () => {});
    stalled.write(Buffer.alloc(700 * 1024, 0x20));
    const probe = ['ECHO', 'z'.repeat(500 * 1024)];
    try {
      // Once the server holds the stalled bytes, another 500 KiB does not fit.
      await vi.waitFor(async () => {
        const reply = await post(endpoint, probe);
        expect(reply.status).toBe(503);
        expect(reply.json.error).toMatch(
          /^ERR the server already holds \d+ bytes of request bodies \(the limit is 1048576\)/,
        );
        // Until the stalled 700 KiB have arrived: on a loaded machine that takes past waitFor's 1 s.
      }, 10_000);
    } finally {
      stalled.destroy();
    }
    await vi.waitFor(async () => expect((await post(endpoint, probe)).status).toBe(200), 10_000);
  });
});
