import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { decodeSearchList, encodeSearchList } from './search-list.js';

const HASH = 'a'.repeat(64);

describe('search list payload', () => {
  it('round-trips row strings as written, whatever they hold', () => {
    const rows = ['{"id":"a"}', '', 'x;y;12;', '{"name":"é 😀 \\"q\\""}', 'AAEC'];
    const payload = encodeSearchList(HASH, rows);
    expect(payload.startsWith(`${HASH};5;`)).toBe(true);
    expect(decodeSearchList(payload, HASH)).toEqual(rows);
    expect(decodeSearchList(encodeSearchList(HASH, []), HASH)).toEqual([]);
  });

  it('is no list for another query or another format', () => {
    const payload = encodeSearchList(HASH, ['{"id":"a"}']);
    expect(decodeSearchList(payload, 'b'.repeat(64))).toBeUndefined();
    expect(decodeSearchList(payload, HASH.slice(0, 63))).toBeUndefined();
    expect(decodeSearchList(JSON.stringify([HASH, ['{"id":"a"}']]), HASH)).toBeUndefined();
  });

  it('refuses a payload that does not frame as DECODE_FAILED', () => {
    const broken = [
      `${HASH};`,
      `${HASH};1;`,
      `${HASH};1;10;{"id":"a"`,
      `${HASH};1;3;abcd`,
      `${HASH};x;`,
      `${HASH};99999999999999999999;`,
      `${HASH};2;1;a`,
      `${HASH};1;-1;a`,
    ];
    for (const payload of broken) {
      let thrown: unknown;
      try {
        decodeSearchList(payload, HASH);
      } catch (err) {
        thrown = err;
      }
      expect(isStrataError(thrown, 'DECODE_FAILED'), payload).toBe(true);
    }
  });
});
