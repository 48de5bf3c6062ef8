import { describe, expect, it } from 'vitest';
import {
  concatBytes,
  equalBytes,
  fromBase64,
  fromHex,
  toBase64,
  toHex,
  utf8Decode,
  utf8Encode,
} from './bytes.js';

const ALL_BYTES = Uint8Array.from({ length: 256 }, (_, i) => i);
const MIB = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7919 + (i >>> 8)) & 255);

/** The reference answer, from the runtime's own (lenient) btoa. */
function referenceBase64(bytes: Uint8Array): string {
  let binary = '';
  for (let i = 0; i < bytes.length; i += 0x8000) {
    binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(binary);
}

describe('utf8', () => {
  it('round trips unicode, emoji, NUL and a leading BOM', () => {
    const text = '\uFEFFhé 日本 🎉 \u0000 end';
    expect(utf8Decode(utf8Encode(text))).toBe(text);
    expect([...utf8Encode('hé')]).toEqual([104, 195, 169]);
  });

  it('throws on invalid UTF-8 instead of substituting U+FFFD', () => {
    expect(() => utf8Decode(new Uint8Array([0xc3]))).toThrow(TypeError);
    expect(() => utf8Decode(new Uint8Array([0xff, 0x41]))).toThrow(TypeError);
    expect(() => utf8Decode(new Uint8Array([0xed, 0xa0, 0x80]))).toThrow(TypeError); // a surrogate
  });
});

describe('base64', () => {
  it('matches btoa for every length mod 3 and all 256 byte values', () => {
    for (const n of [0, 1, 2, 3, 4, 5, 255, 256]) {
      const bytes = ALL_BYTES.subarray(0, n);
      expect(toBase64(bytes)).toBe(referenceBase64(bytes));
      expect(fromBase64(toBase64(bytes))).toEqual(new Uint8Array(bytes));
    }
  });

  it('uses the url alphabet without padding when asked', () => {
    const bytes = new Uint8Array([251, 255]);
    expect(toBase64(bytes)).toBe('+/8=');
    expect(toBase64(bytes, { alphabet: 'base64url' })).toBe('-_8');
    expect(fromBase64('-_8', { alphabet: 'base64url' })).toEqual(bytes);
    expect(fromBase64('-_8=', { alphabet: 'base64url' })).toEqual(bytes);
    for (const n of [0, 1, 2, 3, 100]) {
      const slice = ALL_BYTES.subarray(0, n);
      expect(fromBase64(toBase64(slice, { alphabet: 'base64url' }), { alphabet: 'base64url' })).toEqual(
        new Uint8Array(slice),
      );
    }
  });

  it('accepts standard text without padding', () => {
    expect(fromBase64('aGk')).toEqual(new Uint8Array([104, 105]));
    expect(fromBase64('aGk=')).toEqual(new Uint8Array([104, 105]));
  });

  it.each([
    ['whitespace', 'aG k='],
    ['trailing newline', 'aGk=\n'],
    ['url chars in standard', '-_8='],
    ['standard chars in url', '+/8='],
    ['impossible length', 'aGkhY'],
    ['misplaced padding', 'aG=k'],
    ['too much padding', 'aG==='],
    ['padding on a full group', 'aGkh===='],
    ['only padding', '===='],
    ['non-zero trailing bits', 'aGl='],
    ['non-latin character', 'aGk€'],
  ])('rejects %s', (label, text) => {
    const alphabet = label === 'standard chars in url' ? 'base64url' : 'base64';
    expect(() => fromBase64(text, { alphabet })).toThrow(SyntaxError);
  });

  it('never echoes the input in its error', () => {
    const secret = 'c2VjcmV0LXNlY3JldC1zZWNyZXQ$';
    expect(() => fromBase64(secret)).toThrow(/index 27/);
    try {
      fromBase64(secret);
    } catch (err) {
      expect(String(err)).not.toContain('c2Vj');
    }
  });

  it('handles 1 MiB quickly, both ways', () => {
    const started = performance.now();
    const text = toBase64(MIB);
    const back = fromBase64(text);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(text).toBe(referenceBase64(MIB));
    expect(equalBytes(back, MIB)).toBe(true);
  });
});

describe('hex', () => {
  it('round trips all 256 values, lowercase out, either case in', () => {
    const hex = toHex(ALL_BYTES);
    expect(hex.slice(0, 8)).toBe('00010203');
    expect(hex.slice(-4)).toBe('feff');
    expect(fromHex(hex)).toEqual(ALL_BYTES);
    expect(fromHex(hex.toUpperCase())).toEqual(ALL_BYTES);
    expect(fromHex('')).toEqual(new Uint8Array());
  });

  it.each([
    ['odd length', 'abc'],
    ['non-hex', '0g'],
    ['space', '0 '],
    ['prefix', '0x00'],
  ])('rejects %s', (_label, text) => {
    expect(() => fromHex(text)).toThrow(SyntaxError);
  });

  it('handles 1 MiB', () => {
    expect(equalBytes(fromHex(toHex(MIB)), MIB)).toBe(true);
  });
});

describe('concatBytes / equalBytes', () => {
  it('concatenates into a fresh array', () => {
    const a = new Uint8Array([1, 2]);
    const joined = concatBytes(a, new Uint8Array(), new Uint8Array([3]));
    expect(joined).toEqual(new Uint8Array([1, 2, 3]));
    joined[0] = 9;
    expect(a[0]).toBe(1);
    expect(concatBytes()).toEqual(new Uint8Array());
  });

  it('compares content, including views at an offset', () => {
    const backing = new Uint8Array([0, 1, 2, 3]);
    expect(equalBytes(backing.subarray(1, 3), new Uint8Array([1, 2]))).toBe(true);
    expect(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 3]))).toBe(false);
    expect(equalBytes(new Uint8Array([1, 2]), new Uint8Array([1, 2, 0]))).toBe(false);
    expect(equalBytes(new Uint8Array(), new Uint8Array())).toBe(true);
  });
});
