import { createIoredisL2 } from '@strata/adapter-node/redis-tcp';
import { isStrataError, type L2Tier, StrataError } from '@strata/core';
import { guardL2, type L2Deadline } from '@strata/core/driver';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// Issue 15: the guard raced every L2 read against its deadline with a promise of its own (most of
// its cost on an L2 hit). The ioredis L2 now takes the read's deadline (`getMany(keys, deadline)`)
// and rejects its own MGET at it, so the guard needs no race. Here the reply is held in a loopback
// proxy in front of the real Redis: the tier's own promise must reject at the deadline with the
// guard's TIMEOUT, and the connection must read correctly once the held reply arrives late.

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
});

const redisUrl = serviceUrls().redisUrl;
const NO_ANSWER = Symbol('no answer');
/** How `promise` settled within `ms`: its value, its error, or NO_ANSWER. */
const outcome = (promise: Promise<unknown>, ms: number) =>
  Promise.race([
    promise.then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    ),
    new Promise((resolve) => setTimeout(() => resolve(NO_ANSWER), ms)),
  ]);

async function heldRedis(): Promise<TcpProxy> {
  const proxy = await startTcpProxy(Number(new URL(redisUrl).port || 6379));
  closers.push(() => proxy.close());
  // Runs first (closers go in reverse): a test that failed while paused must not hang its closes.
  closers.push(async () => proxy.resume());
  return proxy;
}

describe('an L2 read over ioredis whose reply is held past its deadline', () => {
  it('the tier rejects its own MGET with the error the deadline hands it, and the late reply changes nothing', async () => {
    const proxy = await heldRedis();
    const l2 = createIoredisL2(proxy.url(redisUrl));
    closers.push(() => l2.close());
    const key = `${uniqueName('l2_deadline')}:missing`;
    expect(await l2.getMany([key])).toEqual([null]); // connected

    let reject: ((error: Error) => void) | undefined;
    const deadline: L2Deadline = { honour: (r) => (reject = r) };
    proxy.pause();
    const read = l2.getMany([key], deadline);
    expect(reject).toBeTypeOf('function');
    const timeout = new StrataError('TIMEOUT', 'L2 ioredis getMany timed out after 100 ms');
    setTimeout(() => reject?.(timeout), 100);
    expect(await outcome(read, 2_000)).toEqual({ error: timeout });

    proxy.resume(); // the held reply arrives: it answers nobody, and the next read is its own
    expect(await l2.getMany([key, key])).toEqual([null, null]);
  });

  it('guarded: the tier’s own promise rejects at the deadline with the TIMEOUT, the call with L2_UNAVAILABLE (timeout)', async () => {
    const proxy = await heldRedis();
    const inner = createIoredisL2(proxy.url(redisUrl));
    closers.push(() => inner.close());
    let own: Promise<unknown> | undefined;
    // Keeps the promise the tier answered with, to see that the tier itself rejected it.
    const watched: L2Tier = {
      name: inner.name,
      getMany: (keys, deadline) => {
        const p = inner.getMany(keys, deadline);
        own = p;
        return p;
      },
      run: (script, keys, args, sendBy) => inner.run(script, keys, args, sendBy),
      close: () => inner.close(),
    };
    const l2 = guardL2(watched, { timeoutMs: 150 });
    const key = `${uniqueName('l2_deadline')}:missing`;
    expect(await l2.getMany([key])).toEqual([null]);

    proxy.pause();
    const started = performance.now();
    const call = l2.getMany([key]);
    const tierSide = own!;
    const got = (await outcome(call, 2_000)) as { error?: unknown };
    const waited = performance.now() - started;
    expect(isStrataError(got.error, 'L2_UNAVAILABLE')).toBe(true);
    const err = got.error as StrataError;
    expect(err.details).toMatchObject({ tier: 'ioredis', op: 'getMany', reason: 'timeout' });
    expect(isStrataError(err.cause, 'TIMEOUT')).toBe(true);
    expect(waited).toBeGreaterThanOrEqual(140);
    // The tier's MGET itself was failed at the deadline (before, it waited for the reply).
    const mine = (await outcome(tierSide, 50)) as { error?: unknown };
    expect(mine).not.toBe(NO_ANSWER);
    expect(mine.error).toBe(err.cause);

    proxy.resume();
    expect(await l2.getMany([key])).toEqual([null]);
  });

  it('a client with a keyPrefix sends through redis.mget, which does not honour it: the guard races it as before', async () => {
    const proxy = await heldRedis();
    const client = new Redis(proxy.url(redisUrl), {
      protocol: 2,
      keyPrefix: `${uniqueName('l2_deadline')}:`,
    });
    client.on('error', () => {});
    closers.push(() => client.quit());
    const l2 = guardL2(createIoredisL2(client), { timeoutMs: 150 });
    expect(await l2.getMany(['missing'])).toEqual([null]);

    proxy.pause();
    const got = (await outcome(l2.getMany(['missing']), 2_000)) as { error?: unknown };
    expect(isStrataError(got.error, 'L2_UNAVAILABLE')).toBe(true);
    expect((got.error as StrataError).details).toMatchObject({ reason: 'timeout' });
    proxy.resume();
  });
});
