import { describe, expect, it } from 'vitest';
import { type Duration, toMs } from './duration.js';
import { isStrataError } from './errors.js';

describe('toMs', () => {
  it.each<[Duration, number]>([
    [0, 0],
    [250, 250],
    [1.4, 1],
    [0.2, 1], // positive never rounds to 0 (= never expire)
    ['0ms', 0],
    ['0s', 0],
    ['250ms', 250],
    ['30s', 30_000],
    ['1.5s', 1_500],
    ['1.1s', 1_100],
    ['.5s', 500],
    ['0.25ms', 1],
    ['5m', 300_000],
    ['1h', 3_600_000],
    ['1d', 86_400_000],
    ['7d', 604_800_000],
  ])('%j -> %d', (input, expected) => {
    expect(toMs(input)).toBe(expected);
  });

  it.each<[unknown, RegExp]>([
    [-1, /must not be negative/],
    ['-5s', /must not be negative/],
    [Number.NaN, /is NaN/],
    [Number.POSITIVE_INFINITY, /must be finite/],
    ['', /expected e\.g\./],
    ['5', /expected e\.g\./],
    ['5 s', /expected e\.g\./],
    [' 5s', /expected e\.g\./],
    ['5sec', /expected e\.g\./],
    ['5S', /expected e\.g\./],
    ['1e3ms', /expected e\.g\./],
    ['5w', /expected e\.g\./],
    ['1.s', /expected e\.g\./],
    ['NaNs', /expected e\.g\./],
    ['Infinityms', /expected e\.g\./],
    ['99999999999999999999d', /too large/],
    [null, /must be a number/],
    [{}, /must be a number/],
  ])('rejects %j', (input, why) => {
    let caught: unknown;
    try {
      toMs(input as Duration, 'l1.ttl');
    } catch (err) {
      caught = err;
    }
    expect(isStrataError(caught, 'INVALID_CONFIG')).toBe(true);
    if (!isStrataError(caught)) return;
    expect(caught.message).toMatch(/^strata: invalid duration for l1\.ttl: /);
    expect(caught.message).toMatch(why);
    expect(caught.details).toEqual({ field: 'l1.ttl', value: input });
  });

  it('names a generic field when none is given', () => {
    expect(() => toMs('x' as Duration)).toThrow('invalid duration for duration: "x"');
  });
});
