import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { isStrataError } from '../src/errors.js';
import type { L2Entry, L2SetEntry, L2Tier } from '../src/l2/types.js';
import { oneMebibyteValue, TRICKY_KEY_SUFFIXES, TRICKY_VALUES } from './l2-samples.js';

/** What a conformance run needs from an implementation. */
export interface L2Fixture {
  tier: L2Tier;
  /** Every key the suite writes starts with this; unique to the run. */
  prefix: string;
  /** Deletes every key under `prefix` and closes the tier (and whatever the fixture opened). */
  cleanup(): Promise<void>;
}

/**
 * The L2 seam's conformance suite, written once and run against every implementation. `factory`
 * is called once for the suite and once more for the `close()` test.
 *
 * @example
 * describeL2Conformance('ioredis', async () => {
 *   const prefix = `${uniqueName('l2')}:`;
 *   const tier = createIoredisL2(serviceUrls().redisUrl);
 *   return { tier, prefix, cleanup: async () => { await deletePrefix(prefix); await tier.close(); } };
 * });
 */
export function describeL2Conformance(name: string, factory: () => Promise<L2Fixture>): void {
  describe(`L2 conformance: ${name}`, () => {
    let fixture: L2Fixture | undefined;
    const l2 = (): L2Tier => {
      if (fixture === undefined) throw new Error('the L2 fixture did not start');
      return fixture.tier;
    };
    const key = (suffix: string): string => `${fixture?.prefix}${suffix}`;
    const entry = (suffix: string, value: string, ttlMs = 0): L2SetEntry => ({
      key: key(suffix),
      value,
      ttlMs,
    });
    const values = (entries: (L2Entry | null)[]): (string | null)[] => entries.map((e) => e?.value ?? null);

    beforeAll(async () => {
      fixture = await factory();
    });
    afterAll(async () => {
      await fixture?.cleanup();
    });

    it('getMany answers in key order, null for missing keys, repeats for repeated keys', async () => {
      await l2().setMany([entry('order:a', 'A'), entry('order:b', 'B'), entry('order:c', 'C')]);
      const got = await l2().getMany(['order:c', 'order:missing', 'order:a', 'order:b', 'order:a'].map(key));
      expect(values(got)).toEqual(['C', null, 'A', 'B', 'A']);
      expect(got[0]).toEqual({ value: 'C', ttlMs: 0 });
      expect(await l2().getMany([])).toEqual([]);
    });

    it('returns the remaining TTL, within bounds', async () => {
      await l2().setMany([entry('ttl:60s', 'x', 60_000), entry('ttl:fraction', 'y', 1_500.2)]);
      const [minute, fraction] = await l2().getMany([key('ttl:60s'), key('ttl:fraction')]);
      expect(minute?.ttlMs).toBeGreaterThan(50_000);
      expect(minute?.ttlMs).toBeLessThanOrEqual(60_000);
      expect(fraction?.ttlMs).toBeGreaterThan(0);
      expect(fraction?.ttlMs).toBeLessThanOrEqual(1_501);
    });

    it('ttl 0 means no expiry (ttlMs 0)', async () => {
      await l2().setMany([entry('ttl:none', 'forever', 0)]);
      expect(await l2().getMany([key('ttl:none')])).toEqual([{ value: 'forever', ttlMs: 0 }]);
    });

    it('a key set with a short TTL disappears', async () => {
      await l2().setMany([entry('ttl:short', 'soon gone', 300)]);
      const [fresh] = await l2().getMany([key('ttl:short')]);
      expect(fresh?.value).toBe('soon gone');
      expect(fresh?.ttlMs).toBeGreaterThan(0);
      expect(fresh?.ttlMs).toBeLessThanOrEqual(300);
      await vi.waitFor(async () => expect(await l2().getMany([key('ttl:short')])).toEqual([null]), {
        timeout: 5_000,
        interval: 25,
      });
    });

    it('rejects a negative or non-finite TTL with INVALID_CONFIG before writing anything', async () => {
      for (const ttlMs of [-1, Number.NaN, Number.POSITIVE_INFINITY]) {
        const error = await l2()
          .setMany([entry('bad-ttl:ok', 'written?'), entry('bad-ttl:bad', 'v', ttlMs)])
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        expect(isStrataError(error, 'INVALID_CONFIG')).toBe(true);
      }
      expect(await l2().getMany([key('bad-ttl:ok'), key('bad-ttl:bad')])).toEqual([null, null]);
    });

    it('overwrites value and TTL; within one batch the later entry wins', async () => {
      await l2().setMany([entry('over', 'v1', 60_000)]);
      await l2().setMany([entry('over', 'v2', 0)]);
      expect(await l2().getMany([key('over')])).toEqual([{ value: 'v2', ttlMs: 0 }]);
      await l2().setMany([entry('over', 'v3', 30_000)]);
      const [third] = await l2().getMany([key('over')]);
      expect(third?.value).toBe('v3');
      expect(third?.ttlMs).toBeGreaterThan(0);
      expect(third?.ttlMs).toBeLessThanOrEqual(30_000);
      await l2().setMany([entry('over:batch', 'first'), entry('over:batch', 'second')]);
      expect(values(await l2().getMany([key('over:batch')]))).toEqual(['second']);
    });

    it('ifAbsent sets only missing keys (SET NX), with or without a TTL, beside plain sets', async () => {
      await l2().setMany([entry('nx:taken', 'written', 0)]);
      await l2().setMany([
        { ...entry('nx:taken', 'fill', 60_000), ifAbsent: true },
        { ...entry('nx:free', 'fill', 60_000), ifAbsent: true },
        { ...entry('nx:free-forever', 'fill', 0), ifAbsent: true },
        entry('nx:plain', 'plain', 0),
      ]);
      const [taken, free, forever, plain] = await l2().getMany(
        ['nx:taken', 'nx:free', 'nx:free-forever', 'nx:plain'].map(key),
      );
      expect(taken).toEqual({ value: 'written', ttlMs: 0 });
      expect(free?.value).toBe('fill');
      expect(free?.ttlMs).toBeGreaterThan(0);
      expect(forever).toEqual({ value: 'fill', ttlMs: 0 });
      expect(plain).toEqual({ value: 'plain', ttlMs: 0 });
    });

    it('setMany then getMany of 1,000 entries', async () => {
      const entries = Array.from({ length: 1_000 }, (_, i) =>
        entry(`bulk:${i}`, `value-${i}-${'é'.repeat(i % 7)}`, i % 2 === 0 ? 0 : 60_000),
      );
      await l2().setMany(entries);
      const got = await l2().getMany(entries.map((e) => e.key));
      expect(got).toHaveLength(1_000);
      got.forEach((found, i) => {
        expect(found?.value).toBe(entries[i]?.value);
        if (i % 2 === 0) expect(found?.ttlMs).toBe(0);
        else expect(found?.ttlMs).toBeGreaterThan(50_000);
      });
      expect(await l2().deleteMany(entries.map((e) => e.key))).toBe(1_000);
    });

    it('deleteMany deletes and returns how many of the keys existed', async () => {
      await l2().setMany([entry('del:a', '1'), entry('del:b', '2'), entry('del:c', '3')]);
      expect(await l2().deleteMany([key('del:a'), key('del:b'), key('del:missing')])).toBe(2);
      expect(values(await l2().getMany([key('del:a'), key('del:b'), key('del:c')]))).toEqual([
        null,
        null,
        '3',
      ]);
      expect(await l2().deleteMany([key('del:a')])).toBe(0);
      expect(await l2().deleteMany([])).toBe(0);
    });

    it('getCounter is 0 when absent; incr counts up atomically', async () => {
      expect(await l2().getCounter(key('counter:a'))).toBe(0);
      expect(await l2().incr(key('counter:a'))).toBe(1);
      expect(await l2().incr(key('counter:a'))).toBe(2);
      expect(await l2().getCounter(key('counter:a'))).toBe(2);
      const results = await Promise.all(Array.from({ length: 50 }, () => l2().incr(key('counter:b'))));
      expect([...results].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
      expect(await l2().getCounter(key('counter:b'))).toBe(50);
    });

    it('setMany and deleteMany bump counters in the same call', async () => {
      expect(await l2().setMany([entry('bump:a', 'x')], [key('bump:gen'), key('bump:gen2')])).toEqual([1, 1]);
      expect(await l2().setMany([], [key('bump:gen2')])).toEqual([2]);
      expect(await l2().getCounter(key('bump:gen'))).toBe(1);
      expect(await l2().getCounter(key('bump:gen2'))).toBe(2);
      expect(await l2().deleteMany([key('bump:a'), key('bump:none')], [key('bump:gen')])).toBe(1);
      expect(await l2().getCounter(key('bump:gen'))).toBe(2);
      expect(values(await l2().getMany([key('bump:a')]))).toEqual([null]);
      // Only a bump: nothing set or deleted, the counter still moves.
      await l2().setMany([], [key('bump:gen')]);
      expect(await l2().deleteMany([], [key('bump:gen')])).toBe(0);
      expect(await l2().getCounter(key('bump:gen'))).toBe(4);
    });

    it('getCounter on a key that does not hold an integer fails with DECODE_FAILED', async () => {
      await l2().setMany([entry('counter:text', 'not a number')]);
      const error = await l2()
        .getCounter(key('counter:text'))
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(isStrataError(error, 'DECODE_FAILED')).toBe(true);
    });

    it('values come back as exactly the same strings', async () => {
      const entries = TRICKY_VALUES.map((value, i) => entry(`value:${i}`, value));
      await l2().setMany(entries);
      const got = values(await l2().getMany(entries.map((e) => e.key)));
      for (const value of got) expect(typeof value).toBe('string');
      expect(got).toEqual(TRICKY_VALUES);
    });

    it('a 1 MiB value round-trips', async () => {
      const big = oneMebibyteValue();
      await l2().setMany([entry('big', big, 60_000)]);
      const [found] = await l2().getMany([key('big')]);
      expect(found?.value.length).toBe(big.length);
      // Not toBe(big): a failure would print two megabytes.
      expect(found?.value === big).toBe(true);
    });

    it('keys with colons, spaces and unicode work for every method', async () => {
      const keys = TRICKY_KEY_SUFFIXES.map((suffix) => key(`tricky:${suffix}`));
      await l2().setMany(keys.map((k, i) => ({ key: k, value: `v${i}`, ttlMs: 0 })));
      expect(values(await l2().getMany(keys))).toEqual(keys.map((_, i) => `v${i}`));
      expect(await l2().incr(`${keys[1]}:n`)).toBe(1);
      expect(await l2().getCounter(`${keys[1]}:n`)).toBe(1);
      expect(await l2().deleteMany([...keys, `${keys[1]}:n`])).toBe(keys.length + 1);
    });

    it('close() can be called twice', async () => {
      const other = await factory();
      try {
        await other.tier.close();
        await other.tier.close();
      } finally {
        await other.cleanup();
      }
    });
  });
}
