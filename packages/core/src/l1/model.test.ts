import { seededRandom } from '@strata/devstack/seeded-random';
import { describe, expect, it } from 'vitest';
import { type Clock, manualClock } from '../clock.js';
import { createMemoryL1 } from './memory-l1.js';
import type { EvictionPolicy, EvictReason } from './types.js';

/** A whole number in [0, n) from a seeded PRNG: a failing sequence is replayed from its seed. */
function prng(seed: number): (n: number) => number {
  const random = seededRandom(seed);
  return (n) => Math.floor(random() * n);
}

interface ModelEntry {
  value: number;
  version: number;
  expiresAt: number;
  freq: number;
  lastUse: number;
  inserted: number;
}

type Log = [string, number, EvictReason][];

/**
 * The naive reference: scans every entry to pick a victim, straight from the definitions —
 * LRU: oldest last use (read or write); FIFO: oldest insertion; LFU: lowest count, then oldest use.
 */
class ReferenceL1 {
  readonly entries = new Map<string, ModelEntry>();
  readonly log: Log = [];
  tick = 0;
  constructor(
    readonly policy: EvictionPolicy,
    readonly max: number,
    readonly defaultTtl: number,
    readonly clock: Clock,
  ) {}

  #dead(e: ModelEntry): boolean {
    return e.expiresAt !== 0 && this.clock.now() >= e.expiresAt;
  }
  #drop(key: string, e: ModelEntry, reason: EvictReason): void {
    this.entries.delete(key);
    this.log.push([key, e.value, this.#dead(e) && reason !== 'cleared' ? 'expired' : reason]);
  }
  #use(e: ModelEntry): void {
    e.freq++;
    e.lastUse = ++this.tick;
  }
  #rank(e: ModelEntry): [number, number] {
    if (this.policy === 'fifo') return [e.inserted, 0];
    if (this.policy === 'lru') return [e.lastUse, 0];
    return [e.freq, e.lastUse];
  }

  get(key: string): number | undefined {
    const e = this.entries.get(key);
    if (e === undefined) return undefined;
    if (this.#dead(e)) {
      this.#drop(key, e, 'expired');
      return undefined;
    }
    this.#use(e);
    return e.value;
  }
  /** `set` unless a live entry holds a newer version. */
  offer(key: string, value: number, ttl = this.defaultTtl, version = 0): boolean {
    const e = this.entries.get(key);
    if (e !== undefined && !this.#dead(e) && e.version > version) return false;
    this.set(key, value, ttl, version);
    return true;
  }
  set(key: string, value: number, ttl = this.defaultTtl, version = 0): void {
    const expiresAt = ttl === 0 ? 0 : this.clock.now() + ttl;
    const e = this.entries.get(key);
    if (e !== undefined && !this.#dead(e)) {
      Object.assign(e, { value, expiresAt, version });
      this.#use(e);
      return;
    }
    if (e !== undefined) this.#drop(key, e, 'expired');
    else if (this.max > 0 && this.entries.size >= this.max) {
      let victim: [string, ModelEntry] | undefined;
      for (const [k, c] of this.entries) {
        const [a, b] = this.#rank(c);
        const best = victim && this.#rank(victim[1]);
        if (!best || a < best[0] || (a === best[0] && b < best[1])) victim = [k, c];
      }
      if (victim) this.#drop(victim[0], victim[1], 'capacity');
    }
    const t = ++this.tick;
    this.entries.set(key, { value, version, expiresAt, freq: 1, lastUse: t, inserted: t });
  }
  peekVersion(key: string): number | undefined {
    const e = this.entries.get(key);
    return e === undefined || this.#dead(e) ? undefined : e.version;
  }
  delete(key: string): boolean {
    const e = this.entries.get(key);
    if (e === undefined) return false;
    const live = !this.#dead(e);
    this.#drop(key, e, 'deleted');
    return live;
  }
  deletePrefix(prefix: string): number {
    const keys = [...this.entries.keys()].filter((k) => k.startsWith(prefix));
    return keys.filter((k) => this.delete(k)).length;
  }
  sweep(): number {
    const dead = [...this.entries].filter(([, e]) => this.#dead(e));
    for (const [k, e] of dead) this.#drop(k, e, 'expired');
    return dead.length;
  }
  clear(): void {
    for (const [k, e] of [...this.entries]) this.#drop(k, e, 'cleared');
  }
}

const KEYS = ['a0', 'a1', 'a2', 'a3', 'a4', 'b0', 'b1', 'b2', 'b3', 'b4', 'c0', 'c1'];
const TTLS = [undefined, 0, 3, 10, 40];

function run(policy: EvictionPolicy, seed: number, steps: number, defaultTtl: number): void {
  const next = prng(seed);
  const clock = manualClock();
  const model = new ReferenceL1(policy, 6, defaultTtl, clock);
  const log: Log = [];
  const l1 = createMemoryL1<number>({
    clock,
    eviction: policy,
    maxEntries: 6,
    defaultTtlMs: defaultTtl,
    onEvict: (k, v, r) => log.push([k, v, r]),
  });
  for (let step = 0; step < steps; step++) {
    const key = KEYS[next(KEYS.length)] ?? 'a0';
    const roll = next(100);
    const where = `${policy} seed=${seed} step=${step}`;
    if (roll < 40) expect(l1.get(key), where).toBe(model.get(key));
    else if (roll < 62) {
      const ttl = TTLS[next(TTLS.length)];
      const version = next(4);
      l1.set(key, step, ttl, version);
      model.set(key, step, ttl, version);
    } else if (roll < 75) {
      const ttl = TTLS[next(TTLS.length)];
      const version = next(4);
      expect(l1.offer(key, step, ttl, version), where).toBe(model.offer(key, step, ttl, version));
      expect(l1.peek(key)?.version, where).toBe(model.peekVersion(key));
    } else if (roll < 85) expect(l1.delete(key), where).toBe(model.delete(key));
    else if (roll < 94) clock.advance(next(5));
    else if (roll < 97) expect(l1.sweep(), where).toBe(model.sweep());
    else if (roll < 99)
      expect(l1.deletePrefix(key.slice(0, 1)), where).toBe(model.deletePrefix(key.slice(0, 1)));
    else {
      l1.clear();
      model.clear();
    }
    expect(l1.size, where).toBe(model.entries.size);
    expect(log.length, where).toBe(model.log.length);
  }
  expect(log).toEqual(model.log);
}

describe('MemoryL1 against a naive reference model', () => {
  for (const policy of ['lfu', 'lru', 'fifo'] as const) {
    it(`${policy}: same results and evictions on random op sequences`, () => {
      for (let seed = 1; seed <= 40; seed++) run(policy, seed, 500, seed % 2 === 0 ? 0 : 15);
    });
  }
});
