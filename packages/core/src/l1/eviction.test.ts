import { describe, expect, it } from 'vitest';
import { manualClock } from '../clock.js';
import { LfuOrder } from './lfu-order.js';
import { createMemoryL1 } from './memory-l1.js';
import { NO_SLOT } from './slot-list.js';
import type { EvictionPolicy, EvictReason } from './types.js';

function full(eviction: EvictionPolicy, maxEntries = 3) {
  const clock = manualClock();
  const evicted: string[] = [];
  const reasons: EvictReason[] = [];
  const l1 = createMemoryL1<string>({
    clock,
    eviction,
    maxEntries,
    onEvict: (key, _value, reason) => {
      evicted.push(key);
      reasons.push(reason);
    },
  });
  for (const key of ['a', 'b', 'c'].slice(0, maxEntries)) l1.set(key, key);
  return { clock, evicted, reasons, l1 };
}

describe('capacity eviction', () => {
  it('LRU evicts the least recently read or written key', () => {
    const { evicted, l1 } = full('lru');
    l1.get('a'); // order b, c, a
    l1.set('b', 'b2'); // order c, a, b
    l1.set('d', 'd'); // evicts c
    l1.set('e', 'e'); // evicts a
    expect(evicted).toEqual(['c', 'a']);
    expect([...['b', 'd', 'e']].map((k) => l1.get(k))).toEqual(['b2', 'd', 'e']);
  });

  it('SIEVE evicts the oldest key not read since the hand passed it; the hand stays put', () => {
    const { evicted, l1 } = full('sieve');
    l1.get('a'); // a visited: spared once
    l1.set('d', 'd'); // hand: a (clears its bit) -> b, evicted
    l1.set('e', 'e'); // hand resumes at c: evicted
    expect(evicted).toEqual(['b', 'c']);
    l1.get('d'); // order a, d, e; d visited
    l1.set('f', 'f'); // hand at d (cleared) -> e, evicted
    l1.set('g', 'g'); // hand wraps to the oldest: a, whose bit was cleared
    expect(evicted).toEqual(['b', 'c', 'e', 'a']);
    expect(['d', 'f', 'g'].map((k) => l1.get(k))).toEqual(['d', 'f', 'g']);
  });

  it('SIEVE: an overwrite counts as a use, a miss does not; a full lap evicts the oldest', () => {
    const { evicted, l1 } = full('sieve');
    l1.get('zzz');
    l1.set('b', 'b2');
    l1.set('d', 'd'); // a is unvisited
    expect(evicted).toEqual(['a']);
    for (const k of ['b', 'c', 'd']) l1.get(k);
    l1.set('e', 'e'); // every bit set: one lap clears them, then the hand's first slot (b) goes
    expect(evicted).toEqual(['a', 'b']);
  });

  it('SIEVE: deleting the slot under the hand moves the hand on', () => {
    const { evicted, l1 } = full('sieve');
    l1.get('a');
    l1.set('d', 'd'); // hand a -> b evicted; hand now at c
    l1.delete('c');
    l1.set('e', 'e'); // room after the delete: nothing evicted
    l1.set('f', 'f'); // hand moved to d (unvisited)
    expect(evicted).toEqual(['b', 'c', 'd']);
  });

  it('LRU: a miss does not count as a use', () => {
    const { evicted, l1 } = full('lru');
    l1.get('zzz');
    l1.set('d', 'd');
    expect(evicted).toEqual(['a']);
  });

  it('FIFO evicts the oldest inserted key regardless of reads and overwrites', () => {
    const { evicted, l1 } = full('fifo');
    l1.get('a');
    l1.get('a');
    l1.set('a', 'a2');
    l1.set('d', 'd'); // evicts a
    l1.set('e', 'e'); // evicts b
    expect(evicted).toEqual(['a', 'b']);
  });

  it('FIFO: a key set again after leaving goes to the back', () => {
    const { evicted, l1 } = full('fifo');
    l1.delete('a');
    l1.set('a', 'again'); // order b, c, a
    l1.set('d', 'd');
    expect(evicted).toEqual(['a', 'b']); // 'a' once for the delete
  });

  it('LFU evicts the least frequently used key, LRU among ties', () => {
    const { evicted, l1 } = full('lfu');
    l1.get('a');
    l1.get('a'); // a:3
    l1.get('c'); // c:2
    l1.set('b', 'b2'); // b:2, used after c
    l1.set('d', 'd'); // ties at 2: c is the least recent -> evicted
    expect(evicted).toEqual(['c']);
    l1.set('e', 'e'); // d:1 is the least frequent
    expect(evicted).toEqual(['c', 'd']);
    l1.get('e');
    l1.get('e'); // e:3, b:2
    l1.set('f', 'f');
    expect(evicted).toEqual(['c', 'd', 'b']);
  });

  it('LFU never evicts the key being inserted', () => {
    const { evicted, l1 } = full('lfu', 2);
    for (let i = 0; i < 5; i++) l1.get('a');
    l1.get('b');
    l1.set('new', 'x');
    expect(evicted).toEqual(['b']);
    expect(l1.get('new')).toBe('x');
  });

  it('reports an already expired victim as "expired", not "capacity"', () => {
    const { clock, evicted, reasons, l1 } = full('fifo', 2);
    l1.set('short', 's', 10); // evicts a (capacity)
    l1.set('c', 'c'); // evicts b (capacity)
    clock.advance(10);
    l1.set('d', 'd'); // victim is 'short', which has expired
    expect(evicted).toEqual(['a', 'b', 'short']);
    expect(reasons).toEqual(['capacity', 'capacity', 'expired']);
    expect(l1.stats()).toMatchObject({ evictions: 2, expirations: 1, size: 2 });
  });

  it.each<EvictionPolicy>(['sieve', 'lru', 'lfu', 'fifo'])('%s: unlimited without maxEntries', (eviction) => {
    const l1 = createMemoryL1<number>({ eviction });
    for (let i = 0; i < 10_000; i++) l1.set(`k${i}`, i);
    expect(l1.stats()).toMatchObject({ size: 10_000, evictions: 0 });
  });
});

describe('LfuOrder', () => {
  it('keeps the minimum frequency at the head after deletes (no scan)', () => {
    const order = new LfuOrder();
    const [a, b, c, d, neverInserted] = [0, 1, 2, 3, 99];
    for (const k of [a, b, c]) order.insert(k);
    order.read(b);
    order.read(c);
    order.read(c); // a:1 b:2 c:3
    expect(order.bucketCount).toBe(3);
    order.remove(a); // the freq-1 bucket disappears; b becomes the victim
    expect(order.victim()).toBe(b);
    expect(order.bucketCount).toBe(2);
    order.remove(b);
    expect(order.victim()).toBe(c);
    expect(order.frequency(c)).toBe(3);
    order.insert(d); // a new freq-1 bucket in front of c's
    expect(order.victim()).toBe(d);
    order.remove(c);
    order.remove(d);
    expect(order.victim()).toBe(NO_SLOT);
    expect(order.bucketCount).toBe(0);
    order.remove(neverInserted);
    order.read(neverInserted);
    expect(order.frequency(neverInserted)).toBeUndefined();
  });
});
