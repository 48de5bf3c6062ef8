import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { integerReply, parseCounter, toPx } from './redis-values.js';

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
