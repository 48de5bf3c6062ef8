import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { createMemoryL1 } from './memory-l1.js';
import type { MemoryL1Options } from './types.js';

describe('MemoryL1 config', () => {
  it.each<[MemoryL1Options<unknown>, string]>([
    [{ maxEntries: -1 }, 'maxEntries'],
    [{ maxEntries: 1.5 }, 'maxEntries'],
    [{ maxEntries: Number.NaN }, 'maxEntries'],
    [{ defaultTtlMs: -5 }, 'defaultTtlMs'],
    [{ defaultTtlMs: Number.POSITIVE_INFINITY }, 'defaultTtlMs'],
    [{ eviction: 'random' as 'lru' }, 'eviction'],
    [{ eviction: 'toString' as 'lru' }, 'eviction'],
  ])('rejects %j', (options, field) => {
    let caught: unknown;
    try {
      createMemoryL1(options);
    } catch (err) {
      caught = err;
    }
    expect(isStrataError(caught, 'INVALID_CONFIG') && caught.details?.field).toBe(field);
  });

  it('rejects a bad per-call TTL without storing anything', () => {
    const l1 = createMemoryL1<number>();
    expect(() => l1.set('a', 1, -1)).toThrow(/ttlMs must be/);
    expect(() => l1.set('a', 1, Number.NaN)).toThrow(/ttlMs must be/);
    expect(l1.size).toBe(0);
  });

  it('counts hits and misses on get and getEntry', () => {
    const l1 = createMemoryL1<number>();
    l1.set('a', 1);
    l1.get('a');
    l1.getEntry('a');
    l1.get('x');
    l1.getEntry('y');
    expect(l1.stats()).toEqual({ hits: 2, misses: 2, evictions: 0, expirations: 0, hookErrors: 0, size: 1 });
  });
});
