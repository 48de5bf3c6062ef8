import { defineSchema, Strata } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { serviceUrls, uniqueName } from '@strata/devstack/testing';
import { integer, pgTable } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import { afterEach, expect, it, vi } from 'vitest';
import { createIoredisL2 } from '../src/redis-tcp/l2.js';
import { nodeScheduler } from '../src/scheduler.js';

afterEach(() => {
  vi.useRealTimers();
});

it('drives the periodic L1 sweep, and close() stops it', async () => {
  vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
  const clock = manualClock();
  const table = pgTable('sweep', { id: integer('id').primaryKey() });
  // L2 (real Redis) as the source of truth, so no Postgres table is needed to observe L1.
  const schema = defineSchema({ table, l1: { ttl: '1s' }, l3: false });
  const keyPrefix = uniqueName('sweep');
  const strata = new Strata({
    l2: createIoredisL2(serviceUrls().redisUrl),
    keyPrefix,
    clock,
    scheduler: nodeScheduler(),
    l1: { sweepEvery: '10s' },
    schemas: [schema],
  });
  await strata.set(schema, { id: 1 });
  expect(strata.stats().l1Entries).toBe(1);
  clock.advance(2_000);
  vi.advanceTimersByTime(9_999);
  expect(strata.stats().l1Entries).toBe(1);
  vi.advanceTimersByTime(1);
  expect(strata.stats().l1Entries).toBe(0);
  expect(await strata.delete(schema, 1)).toBe(true);
  await strata.close();
  expect(vi.getTimerCount()).toBe(0);
  // The delete's tombstone and the schema's counters stay in L2: this test's own keys go.
  const redis = new Redis(serviceUrls().redisUrl);
  const keys = await redis.keys(`${keyPrefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

it('runs a one-shot wait once after its delay, on a timer that keeps the process alive (close() waits for that work)', () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  const made = vi.spyOn(globalThis, 'setTimeout');
  const { after } = nodeScheduler();
  let runs = 0;
  after?.(100, () => {
    runs += 1;
  });
  expect(made).toHaveBeenCalledTimes(1);
  expect((made.mock.results[0]!.value as NodeJS.Timeout).hasRef()).toBe(true);
  vi.advanceTimersByTime(99);
  expect(runs).toBe(0);
  vi.advanceTimersByTime(1);
  expect(runs).toBe(1);
  vi.advanceTimersByTime(1_000);
  expect(runs).toBe(1);
  expect(vi.getTimerCount()).toBe(0);
});

it('cancels a one-shot wait when asked (a poll that answered before its deadline): it never runs, no timer is left', () => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
  const { after } = nodeScheduler();
  let runs = 0;
  const cancel = after?.(100, () => {
    runs += 1;
  });
  expect(vi.getTimerCount()).toBe(1);
  expect(typeof cancel).toBe('function');
  (cancel as () => void)();
  expect(vi.getTimerCount()).toBe(0);
  vi.advanceTimersByTime(1_000);
  expect(runs).toBe(0);
});
