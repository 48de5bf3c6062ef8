import { describe, expect, it } from 'vitest';
import { manualClock } from '../clock.js';
import { createMemoryL1 } from './memory-l1.js';
import type { EvictReason, MemoryL1Options } from './types.js';

function setup(options: MemoryL1Options<number> = {}) {
  const clock = manualClock();
  const events: [string, number, EvictReason][] = [];
  const l1 = createMemoryL1<number>({ clock, onEvict: (k, v, r) => events.push([k, v, r]), ...options });
  return { clock, events, l1 };
}

describe('MemoryL1 TTL', () => {
  it('expires lazily on read, exactly at expiresAt', () => {
    const { clock, events, l1 } = setup();
    l1.set('a', 1, 1000);
    clock.advance(999);
    expect(l1.get('a')).toBe(1);
    expect(l1.size).toBe(1);
    clock.advance(1);
    expect(l1.get('a')).toBeUndefined();
    expect(l1.size).toBe(0);
    expect(events).toEqual([['a', 1, 'expired']]);
    expect(l1.stats()).toMatchObject({ hits: 1, misses: 1, expirations: 1, evictions: 0 });
  });

  it('applies the default TTL; an explicit TTL overrides it; 0 means never', () => {
    const { clock, l1 } = setup({ defaultTtlMs: 100 });
    l1.set('default', 1);
    l1.set('longer', 2, 5000);
    l1.set('never', 3, 0);
    clock.advance(100);
    expect(l1.get('default')).toBeUndefined();
    expect(l1.get('longer')).toBe(2);
    clock.advance(10 * 365 * 86_400_000);
    expect(l1.get('longer')).toBeUndefined();
    expect(l1.get('never')).toBe(3);
  });

  it('keeps entries forever without a default TTL', () => {
    const { clock, l1 } = setup();
    l1.set('a', 1);
    clock.advance(1e12);
    expect(l1.getEntry('a')).toEqual({ value: 1, expiresAt: 0, version: 0 });
  });

  it('reports expiresAt for remaining-TTL fills, and a set restarts the TTL', () => {
    const { clock, l1 } = setup({ defaultTtlMs: 60_000 });
    const start = clock.now();
    l1.set('a', 1);
    expect(l1.getEntry('a')).toEqual({ value: 1, expiresAt: start + 60_000, version: 0 });
    clock.advance(20_000);
    const entry = l1.getEntry('a');
    expect(entry && entry.expiresAt - clock.now()).toBe(40_000);
    l1.set('a', 2, 0);
    expect(l1.getEntry('a')).toEqual({ value: 2, expiresAt: 0, version: 0 });
    expect(l1.getEntry('missing')).toBeUndefined();
  });

  it('treats an expired key as absent for delete and set', () => {
    const { clock, events, l1 } = setup({ defaultTtlMs: 10 });
    l1.set('a', 1);
    l1.set('b', 2);
    clock.advance(10);
    expect(l1.delete('a')).toBe(false);
    l1.set('b', 3);
    expect(events).toEqual([
      ['a', 1, 'expired'],
      ['b', 2, 'expired'],
    ]);
    expect(l1.get('b')).toBe(3);
    expect(l1.stats().expirations).toBe(2);
  });

  it('sweep removes only expired entries and counts them', () => {
    const { clock, events, l1 } = setup();
    l1.set('a', 1, 10);
    l1.set('b', 2, 20);
    l1.set('c', 3);
    expect(l1.sweep()).toBe(0);
    clock.advance(15);
    expect(l1.sweep()).toBe(1);
    clock.advance(5);
    expect(l1.sweep()).toBe(1);
    expect(l1.size).toBe(1);
    expect(events.map(([k, , r]) => `${k}:${r}`)).toEqual(['a:expired', 'b:expired']);
    expect(l1.stats()).toMatchObject({ expirations: 2, hits: 0, misses: 0, size: 1 });
  });
});

describe('MemoryL1 removal', () => {
  it('delete reports "deleted" and returns whether a live entry was there', () => {
    const { events, l1 } = setup();
    l1.set('a', 1);
    expect(l1.delete('a')).toBe(true);
    expect(l1.delete('a')).toBe(false);
    expect(events).toEqual([['a', 1, 'deleted']]);
  });

  it('deletePrefix drops one schema and counts live entries only', () => {
    const { clock, events, l1 } = setup();
    l1.set('users:1', 1);
    l1.set('users:2', 2, 5);
    l1.set('users:3', 3);
    l1.set('orders:1', 4);
    l1.set('user', 5);
    clock.advance(5);
    expect(l1.deletePrefix('users:')).toBe(2);
    expect(l1.size).toBe(2);
    expect(l1.get('orders:1')).toBe(4);
    expect(events.map(([k, , r]) => `${k}:${r}`).sort()).toEqual([
      'users:1:deleted',
      'users:2:expired',
      'users:3:deleted',
    ]);
    expect(l1.deletePrefix('nothing:')).toBe(0);
  });

  it('clear empties the cache and reports "cleared" for each entry', () => {
    const { events, l1 } = setup({ eviction: 'lfu' });
    l1.set('a', 1);
    l1.set('b', 2);
    l1.get('a');
    l1.clear();
    expect(l1.size).toBe(0);
    expect(l1.get('a')).toBeUndefined();
    expect(events).toEqual([
      ['a', 1, 'cleared'],
      ['b', 2, 'cleared'],
    ]);
    l1.set('c', 3); // the eviction order was reset too
    expect(l1.get('c')).toBe(3);
  });

  it('does not call onEvict when set replaces a live value', () => {
    const { events, l1 } = setup();
    l1.set('a', 1);
    l1.set('a', 2);
    expect(events).toEqual([]);
    expect(l1.get('a')).toBe(2);
  });
});

describe('MemoryL1 offer', () => {
  it('stores where nothing or an older or equal version is held, and refuses a newer one unchanged', () => {
    const { clock, events, l1 } = setup({ defaultTtlMs: 1_000 });
    const start = clock.now();
    expect(l1.offer('a', 1, undefined, 5)).toBe(true);
    expect(l1.getEntry('a')).toEqual({ value: 1, expiresAt: start + 1_000, version: 5 });
    expect(l1.offer('a', 2, 0, 4)).toBe(false);
    expect(l1.peek('a')).toEqual({ value: 1, expiresAt: start + 1_000, version: 5 });
    expect(l1.offer('a', 3, 0, 5)).toBe(true);
    expect(l1.peek('a')).toEqual({ value: 3, expiresAt: 0, version: 5 });
    expect(l1.offer('a', 4, 50, 9)).toBe(true);
    expect(l1.peek('a')).toEqual({ value: 4, expiresAt: start + 50, version: 9 });
    // A replaced live value is not an eviction, as with set.
    expect(events).toEqual([]);
    expect(l1.stats()).toMatchObject({ hits: 1, misses: 0, size: 1 });
  });

  it('takes the place of an expired entry whatever its version, reported as expired', () => {
    const { clock, events, l1 } = setup();
    l1.set('a', 1, 10, 7);
    clock.advance(10);
    expect(l1.offer('a', 2, 0, 1)).toBe(true);
    expect(l1.peek('a')).toEqual({ value: 2, expiresAt: 0, version: 1 });
    expect(events).toEqual([['a', 1, 'expired']]);
  });

  it('counts as a write in the eviction order, and a full cache evicts for it', () => {
    const { events, l1 } = setup({ maxEntries: 2, eviction: 'lru' });
    l1.set('a', 1);
    l1.set('b', 2);
    expect(l1.offer('a', 3)).toBe(true);
    expect(l1.offer('c', 4)).toBe(true);
    expect(events).toEqual([['b', 2, 'capacity']]);
    expect(l1.offer('a', 5, undefined, -1)).toBe(false);
    expect(l1.get('a')).toBe(3);
  });

  it('checks the TTL as set does', () => {
    const { l1 } = setup();
    expect(() => l1.offer('a', 1, -1)).toThrow(/ttlMs/);
    expect(l1.size).toBe(0);
  });
});

describe('MemoryL1 onEvict errors', () => {
  it('counts a throwing hook, hands it to onHookError, and keeps the cache working', () => {
    const seen: [unknown, string, EvictReason][] = [];
    const boom = new Error('hook failed');
    const l1 = createMemoryL1<number>({
      clock: manualClock(),
      maxEntries: 1,
      onEvict: () => {
        throw boom;
      },
      onHookError: (err, key, reason) => seen.push([err, key, reason]),
    });
    l1.set('a', 1);
    expect(() => l1.set('b', 2)).not.toThrow();
    expect(() => l1.delete('b')).not.toThrow();
    expect(seen).toEqual([
      [boom, 'a', 'capacity'],
      [boom, 'b', 'deleted'],
    ]);
    expect(l1.stats()).toMatchObject({ hookErrors: 2, evictions: 1, size: 0 });
    l1.set('c', 3);
    expect(l1.get('c')).toBe(3);
  });

  it('counts a throwing onHookError as well, without throwing', () => {
    const l1 = createMemoryL1<number>({
      onEvict: () => {
        throw new Error('first');
      },
      onHookError: () => {
        throw new Error('second');
      },
    });
    l1.set('a', 1);
    l1.set('b', 2);
    expect(() => l1.clear()).not.toThrow();
    expect(l1.stats().hookErrors).toBe(4);
  });

  it('lets the hook call back into a consistent cache', () => {
    const l1 = createMemoryL1<number>({
      maxEntries: 2,
      onEvict: (key, value, reason) => {
        if (reason === 'capacity' && key === 'a') l1.set(`evicted:${key}`, value);
      },
    });
    l1.set('a', 1);
    l1.set('b', 2);
    l1.set('c', 3); // evicts a; the hook's own set then evicts b
    expect(l1.size).toBe(2);
    expect(l1.get('c')).toBe(3);
    expect(l1.get('evicted:a')).toBe(1);
  });
});
