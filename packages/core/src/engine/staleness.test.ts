import { pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { manualClock } from '../clock.js';
import { defineSchema } from '../schema/define-schema.js';
import { Staleness } from './staleness.js';

const table = pgTable('staleness_rows', { id: text('id').primaryKey() });

describe('Staleness', () => {
  it("takes the schema's windows and checks the durations", () => {
    const clock = manualClock();
    expect(new Staleness(defineSchema({ table, stale: '1m' }), clock).tailMs).toBe(60_000);
    expect(new Staleness(defineSchema({ table, stale: '1m', grace: '1h' }), clock).tailMs).toBe(3_600_000);
    expect(() => new Staleness(defineSchema({ table, stale: '-1s' as never }), clock)).toThrow(/stale/);
  });

  it('ages a row by how far past its fresh end it is; hold keeps it for the windows', () => {
    const aging = new Staleness({ name: 't', stale: 10_000, grace: 30_000 }, manualClock());
    expect([
      aging.age(-1),
      aging.age(0),
      aging.age(9_999),
      aging.age(10_000),
      aging.age(29_999),
      aging.age(30_000),
    ]).toEqual(['fresh', 'stale', 'stale', 'grace', 'grace', undefined]);
    expect(aging.hold(5_000)).toBe(35_000);
    expect(aging.hold(0)).toBe(0); // never expires, never stale
    const now = aging.clock.now();
    expect(aging.l1Age(now + 35_000)).toBe('fresh');
    expect(aging.l1Age(now + 25_000)).toBe('stale');
    expect(aging.l1Age(now + 10_000)).toBe('grace');
    expect(aging.l1Age(0)).toBe('fresh');
  });

  it('never lets a copy older than an own write be served, whatever the order of writes', () => {
    const aging = new Staleness({ name: 't', stale: 1_000, grace: undefined }, manualClock());
    expect(aging.mayServe('k', 1)).toBe(true);
    aging.wrote('k', 5);
    expect(aging.mayServe('k', 4)).toBe(false);
    expect(aging.mayServe('k', 5)).toBe(true);
    expect(aging.mayServe('other', 1)).toBe(true);
  });

  it('backs a key off for a second after a source failure', () => {
    const clock = manualClock();
    const aging = new Staleness({ name: 't', stale: undefined, grace: 60_000 }, clock);
    expect(aging.backingOff('k')).toBe(false);
    aging.backOff('k');
    expect(aging.backingOff('k')).toBe(true);
    clock.advance(1_000);
    expect(aging.backingOff('k')).toBe(false);
  });
});
