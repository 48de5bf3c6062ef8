import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { decodeGetWithTtl } from './get-with-ttl-script.js';
import { entryFromPttl, integerReply, parseCounter, toPx } from './redis-values.js';

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    return isStrataError(error) ? error.code : 'not a StrataError';
  }
  return undefined;
}

describe('Redis value conventions', () => {
  it('toPx: 0 is no expiry, fractions round up, negatives and non-finite are refused', () => {
    expect(toPx(0, 'k')).toBeUndefined();
    expect(toPx(60_000, 'k')).toBe(60_000);
    expect(toPx(0.2, 'k')).toBe(1);
    for (const bad of [-1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(codeOf(() => toPx(bad, 'k'))).toBe('INVALID_CONFIG');
  });

  it('entryFromPttl: -1 is no expiry, -2 and 0 are gone', () => {
    expect(entryFromPttl('v', -1)).toEqual({ value: 'v', ttlMs: 0 });
    expect(entryFromPttl('v', 1234)).toEqual({ value: 'v', ttlMs: 1234 });
    expect(entryFromPttl('v', -2)).toBeNull();
    expect(entryFromPttl('v', 0)).toBeNull();
  });

  it('parseCounter reads strings and parsed numbers, 0 when absent, DECODE_FAILED otherwise', () => {
    expect(parseCounter(null, 'k')).toBe(0);
    expect(parseCounter('17', 'k')).toBe(17);
    expect(parseCounter(17, 'k')).toBe(17);
    expect(parseCounter('-3', 'k')).toBe(-3);
    for (const bad of ['1.5', 'abc', '', '99999999999999999999', { n: 1 }]) {
      expect(codeOf(() => parseCounter(bad, 'k'))).toBe('DECODE_FAILED');
    }
  });

  it('integerReply accepts integers and integer strings; anything else is L2_UNAVAILABLE', () => {
    expect(integerReply(3, 'del')).toBe(3);
    expect(integerReply('3', 'del')).toBe(3);
    for (const bad of [null, 'OK', 1.5, [1]])
      expect(codeOf(() => integerReply(bad, 'del'))).toBe('L2_UNAVAILABLE');
  });
});

describe('decodeGetWithTtl', () => {
  it('untags values and maps TTLs, in order', () => {
    expect(decodeGetWithTtl([-1, '~a', -2, '', 500, '~', 0, '~gone'], 4)).toEqual([
      { value: 'a', ttlMs: 0 },
      null,
      { value: '', ttlMs: 500 },
      null,
    ]);
  });

  it('a reply of the wrong shape is L2_UNAVAILABLE, never a wrong answer', () => {
    const cases: [unknown, number][] = [
      [null, 1],
      ['OK', 1],
      [[], 1],
      [[-1, '~a'], 2],
      [[-1, 'untagged'], 1],
      [[-1, 42], 1],
      [['x', '~a'], 1],
    ];
    for (const [reply, count] of cases)
      expect(codeOf(() => decodeGetWithTtl(reply, count))).toBe('L2_UNAVAILABLE');
  });
});
