import { createServer, type Server } from 'node:net';
import { isStrataError, type L2Tier, type StrataError } from '@strata/core';
import { CircuitBreaker, guardL2, type L2Script } from '@strata/core/driver';
import { countingL2, describeL2Conformance, type L2Fixture, strataRejection } from '@strata/core/testing';
import { freePort } from '@strata/devstack';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';

const admin = new Redis(serviceUrls().redisUrl, { protocol: 2 });
afterAll(async () => {
  await admin.quit();
});

async function deletePrefix(prefix: string): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1_000);
    if (keys.length > 0) await admin.del(...keys);
    cursor = next;
  } while (cursor !== '0');
}

/** Commands any ioredis client sent while `during` ran (each a request; the suite runs one call at a time). */
async function commandsSent(during: () => Promise<unknown>): Promise<number> {
  const spy = vi.spyOn(Redis.prototype, 'sendCommand');
  try {
    await during();
    return spy.mock.calls.length;
  } finally {
    spy.mockRestore();
  }
}

function fixture(tier: L2Tier, closeAlso?: () => Promise<unknown>): L2Fixture {
  const prefix = `${uniqueName('l2conf')}:`;
  return {
    tier,
    prefix,
    raw: {
      get: (key) => admin.get(key),
      set: async (key, value) => {
        await admin.set(key, value);
      },
      pttl: (key) => admin.pttl(key),
      scriptExists: async (sha1) => ((await admin.script('EXISTS', sha1)) as number[])[0] === 1,
    },
    roundTrips: commandsSent,
    cleanup: async () => {
      await deletePrefix(prefix);
      await tier.close();
      await closeAlso?.();
    },
  };
}

describeL2Conformance('ioredis, connection opened from a URL', async () =>
  fixture(createIoredisL2(serviceUrls().redisUrl)),
);

// ioredis 6 defaults to RESP3: a borrowed client in that mode must work just the same.
describeL2Conformance('ioredis, a RESP3 client handed in', async () => {
  const client = new Redis(serviceUrls().redisUrl);
  return fixture(createIoredisL2(client), () => client.quit());
});

/** A script that would touch Redis, for the calls below that must never reach it. */
const NOOP: L2Script = { name: 'noop', source: 'return 1' };

/** The `CLIENT LIST` line of the connection named `name`, if it is connected. */
async function clientLine(name: string): Promise<string | undefined> {
  const list = (await admin.client('LIST')) as string;
  return list.split('\n').find((line) => line.includes(` name=${name} `));
}

describe('ioredis L2 connections', () => {
  it('an owned connection speaks RESP2 even when asked for RESP3, and close() ends it', async () => {
    const connectionName = uniqueName('l2_owned');
    const l2 = createIoredisL2(serviceUrls().redisUrl, { protocol: 3, connectionName });
    expect(await l2.getMany([`${connectionName}:absent`])).toEqual([null]);
    expect(await clientLine(connectionName)).toMatch(/ resp=2$/);
    await l2.close();
    await l2.close();
    await vi.waitFor(async () => expect(await clientLine(connectionName)).toBeUndefined(), {
      timeout: 5_000,
    });
  });

  it('a borrowed client keeps its protocol and stays open after close()', async () => {
    const connectionName = uniqueName('l2_borrowed');
    const client = new Redis(serviceUrls().redisUrl, { connectionName });
    const l2 = createIoredisL2(client);
    expect(await l2.run(NOOP, [], [])).toBe(1);
    expect(await clientLine(connectionName)).toMatch(/ resp=3$/);
    await l2.close();
    expect(client.status).toBe('ready');
    expect(await client.ping()).toBe('PONG');
    await client.quit();
  });

  it('the calls of one turn leave in one socket write, each with its own reply', async () => {
    const prefix = `${uniqueName('l2_coalesce')}:`;
    const client = new Redis(serviceUrls().redisUrl, { protocol: 2 });
    const l2 = createIoredisL2(client);
    try {
      await client.mset(Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`${prefix}${i}`, `v${i}`])));
      // What reaches the socket: one write call per chunk, or one writev for many.
      const socket = client.stream as unknown as {
        _write: (...args: unknown[]) => void;
        _writev: (chunks: unknown[], cb: unknown) => void;
      };
      const writes = vi.spyOn(socket, '_write');
      const writevs = vi.spyOn(socket, '_writev');
      const replies = await Promise.all(
        Array.from({ length: 50 }, (_, i) => l2.getMany([`${prefix}${i}`, `${prefix}absent`])),
      );
      expect(replies).toEqual(Array.from({ length: 50 }, (_, i) => [`v${i}`, null]));
      // The first finds nothing out and goes at once; the 49 sent while it is out leave together.
      expect(writes).toHaveBeenCalledTimes(1);
      expect(writevs).toHaveBeenCalledTimes(1);
      expect(writevs.mock.calls[0]![0]).toHaveLength(49);
      // A call alone, and a script, are written at once.
      expect(await l2.getMany([`${prefix}7`])).toEqual(['v7']);
      expect(await l2.run(NOOP, [], [])).toBe(1);
      expect(writes).toHaveBeenCalledTimes(3);
      expect(writevs).toHaveBeenCalledTimes(1);
    } finally {
      await deletePrefix(prefix);
      await l2.close();
      await client.quit();
    }
  });

  it('a closed port: L2_UNAVAILABLE quickly, the breaker opens, then nothing reaches the tier', async () => {
    const port = await freePort();
    const inner = countingL2(createIoredisL2(`redis://127.0.0.1:${port}`));
    const breaker = new CircuitBreaker({ failureThreshold: 3, coolDownMs: '1m' });
    const onError = vi.fn<(err: StrataError) => void>();
    const l2 = guardL2(inner.tier, { timeoutMs: 5_000, breaker, onError });
    try {
      for (let i = 0; i < 3; i++) {
        const started = performance.now();
        const error = await strataRejection(l2.getMany(['k']));
        // The first call fails on the first refused connect; later ones at the next reconnect attempt.
        expect(performance.now() - started).toBeLessThan(2_000);
        expect(error.code).toBe('L2_UNAVAILABLE');
        expect(error.details).toMatchObject({ tier: 'ioredis', op: 'getMany', reason: 'error' });
      }
      expect(breaker.stats()).toMatchObject({ state: 'open', opens: 1 });
      expect((await strataRejection(l2.run(NOOP, ['k'], []))).details).toMatchObject({
        op: 'noop',
        reason: 'breaker-open',
      });
      expect(inner.calls()).toBe(3);
      expect(onError).toHaveBeenCalledTimes(4);
    } finally {
      await l2.close();
    }
  });

  describe('a server that accepts and never answers', () => {
    let server: Server;
    let port: number;

    beforeAll(async () => {
      // Reads everything, answers nothing: the connection never becomes ready. (Reading matters: a
      // socket left paused never sees the client's FIN, and close() below would wait for it.)
      server = createServer((socket) => socket.resume());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      port = (server.address() as { port: number }).port;
    });
    afterAll(async () => {
      // Resolves once every client connection is gone: proof that close() released them.
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('a call times out: L2_UNAVAILABLE caused by TIMEOUT', async () => {
      const l2 = guardL2(createIoredisL2(`redis://127.0.0.1:${port}`), { timeoutMs: 150 });
      try {
        const started = performance.now();
        const error = await strataRejection(l2.getMany(['k']));
        expect(performance.now() - started).toBeGreaterThanOrEqual(145);
        expect(error.details).toMatchObject({ reason: 'timeout' });
        expect(isStrataError(error.cause, 'TIMEOUT')).toBe(true);
      } finally {
        await l2.close();
      }
    });

    it('close() does not hang on a connection that never got ready, and rejects what was waiting', async () => {
      const l2 = createIoredisL2(`redis://127.0.0.1:${port}`);
      const waiting = l2.getMany(['k']).then(
        () => undefined,
        (e: unknown) => e,
      );
      await l2.close();
      const error = await waiting;
      expect(error).toBeInstanceOf(Error);
      expect(isStrataError(error)).toBe(false);
    });
  });

  it('a Redis that refuses connections: each call says which Redis and why, the ioredis error as cause', async () => {
    const port = await freePort(); // nothing listens there
    const l2 = createIoredisL2(`redis://127.0.0.1:${port}`);
    const script: L2Script = { name: 'unreachable-probe', source: "return redis.call('GET', KEYS[1])" };
    try {
      for (const call of [() => l2.getMany(['k']), () => l2.run(script, ['k'], [])]) {
        const error = (await call().then(
          () => undefined,
          (e: unknown) => e,
        )) as Error;
        expect(error.message).toBe(
          `Redis at 127.0.0.1:${port} is unreachable (connect ECONNREFUSED 127.0.0.1:${port})`,
        );
        expect(String((error.cause as Error).message)).toMatch(/max retries per request limit/);
      }
    } finally {
      await l2.close();
    }
  });
});
