/**
 * Byte helpers on `Uint8Array` with Web APIs only (no `Buffer`), so they run in Node, Workers and
 * browsers alike. Malformed input throws a plain `TypeError`/`SyntaxError` whose message never
 * echoes the input (it may be key material): callers wrap it in the `StrataError` that fits.
 */
import { codeAt } from './strings.js';

const textEncoder = new TextEncoder();
// ignoreBOM: keep a leading U+FEFF as data instead of silently dropping it.
const textDecoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
// Only ever fed ASCII produced here, so it can neither fail nor alter anything.
const asciiDecoder = new TextDecoder('utf-8', { ignoreBOM: true });

/**
 * UTF-8 bytes of `text`. Lone surrogates become U+FFFD (the `TextEncoder` rule).
 *
 * @example utf8Encode('hé'); // Uint8Array [104, 195, 169]
 */
export function utf8Encode(text: string): Uint8Array<ArrayBuffer> {
  return textEncoder.encode(text);
}

/**
 * Decodes UTF-8, throwing a `TypeError` on any invalid sequence (never U+FFFD).
 *
 * @example utf8Decode(new Uint8Array([104, 105])); // 'hi'
 */
export function utf8Decode(bytes: Uint8Array): string {
  return textDecoder.decode(bytes);
}

type Base64Alphabet = 'base64' | 'base64url';

interface Base64Options {
  /** 'base64' (`+/`, padded on output) or 'base64url' (`-_`, unpadded on output). Default 'base64'. */
  alphabet?: Base64Alphabet;
}

const ALPHABETS: Readonly<Record<Base64Alphabet, string>> = {
  base64: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/',
  base64url: 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_',
};
const INVALID = 255;
const PAD = 61; // '='

function codes(alphabet: string): Uint8Array {
  return Uint8Array.from(alphabet, (c) => c.charCodeAt(0));
}

function reverse(alphabet: string): Uint8Array {
  const table = new Uint8Array(256).fill(INVALID);
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
}

const ENCODE = { base64: codes(ALPHABETS.base64), base64url: codes(ALPHABETS.base64url) };
const DECODE = { base64: reverse(ALPHABETS.base64), base64url: reverse(ALPHABETS.base64url) };

/**
 * Base64 text of `bytes`. Table-driven rather than `btoa`, which needs a binary string built with
 * chunked `String.fromCharCode` and is several times slower on large inputs.
 *
 * @example toBase64(new Uint8Array([251, 255])); // '+/8='
 * @example toBase64(new Uint8Array([251, 255]), { alphabet: 'base64url' }); // '-_8'
 */
export function toBase64(bytes: Uint8Array, options: Base64Options = {}): string {
  const alphabet = options.alphabet ?? 'base64';
  const table = ENCODE[alphabet];
  const n = bytes.length;
  const full = n - (n % 3);
  const tail = n - full;
  const padded = alphabet === 'base64';
  const out = new Uint8Array((full / 3) * 4 + (tail === 0 ? 0 : padded ? 4 : tail + 1));
  let o = 0;
  for (let i = 0; i < full; i += 3) {
    const v = (bytes[i]! << 16) | (bytes[i + 1]! << 8) | bytes[i + 2]!;
    out[o++] = table[v >>> 18]!;
    out[o++] = table[(v >>> 12) & 63]!;
    out[o++] = table[(v >>> 6) & 63]!;
    out[o++] = table[v & 63]!;
  }
  if (tail > 0) {
    const v = (bytes[full]! << 16) | (tail === 2 ? bytes[full + 1]! << 8 : 0);
    out[o++] = table[v >>> 18]!;
    out[o++] = table[(v >>> 12) & 63]!;
    if (tail === 2) out[o++] = table[(v >>> 6) & 63]!;
    if (padded) while (o < out.length) out[o++] = PAD;
  }
  return asciiDecoder.decode(out);
}

/**
 * Decodes base64 strictly: only the chosen alphabet, no whitespace, padding optional but correct
 * when present, and unused trailing bits must be zero (one canonical text per byte string).
 * Throws `SyntaxError` otherwise.
 *
 * @example fromBase64('aGk='); // Uint8Array [104, 105]
 */
export function fromBase64(text: string, options: Base64Options = {}): Uint8Array<ArrayBuffer> {
  const table = DECODE[options.alphabet ?? 'base64'];
  let end = text.length;
  if (end % 4 === 0 && end > 0 && text.charCodeAt(end - 1) === PAD) {
    end -= text.charCodeAt(end - 2) === PAD ? 2 : 1;
  }
  const tail = end % 4;
  if (tail === 1) throw new SyntaxError('invalid base64: impossible length');
  const full = end - tail;
  const out = new Uint8Array((full / 4) * 3 + (tail === 0 ? 0 : tail - 1));
  let o = 0;
  for (let i = 0; i < full; i += 4) {
    const v = (sextet(table, text, i) << 18) | (sextet(table, text, i + 1) << 12);
    const w = v | (sextet(table, text, i + 2) << 6) | sextet(table, text, i + 3);
    out[o++] = w >>> 16;
    out[o++] = (w >>> 8) & 255;
    out[o++] = w & 255;
  }
  if (tail > 0) {
    let v = (sextet(table, text, full) << 18) | (sextet(table, text, full + 1) << 12);
    if (tail === 3) v |= sextet(table, text, full + 2) << 6;
    const leftover = tail === 2 ? v & 0xffff : v & 0xff;
    if (leftover !== 0) throw new SyntaxError('invalid base64: non-zero trailing bits');
    out[o++] = v >>> 16;
    if (tail === 3) out[o++] = (v >>> 8) & 255;
  }
  return out;
}

function sextet(table: Uint8Array, text: string, i: number): number {
  // Not text.charCodeAt: see strings.ts (this runs per character of every binary L2 value).
  const code = codeAt(text, i);
  const value = code < 256 ? table[code]! : INVALID;
  if (value === INVALID) throw new SyntaxError(`invalid base64: unexpected character at index ${i}`);
  return value;
}

const HEX_ENCODE = codes('0123456789abcdef');
const HEX_DECODE = (() => {
  const table = reverse('0123456789abcdef');
  for (let i = 0; i < 6; i++) table[65 + i] = 10 + i; // 'A'-'F'
  return table;
})();

/**
 * Lowercase hex of `bytes`.
 *
 * @example toHex(new Uint8Array([0, 255])); // '00ff'
 */
export function toHex(bytes: Uint8Array): string {
  const out = new Uint8Array(bytes.length * 2);
  for (let i = 0; i < bytes.length; i++) {
    out[2 * i] = HEX_ENCODE[bytes[i]! >>> 4]!;
    out[2 * i + 1] = HEX_ENCODE[bytes[i]! & 15]!;
  }
  return asciiDecoder.decode(out);
}

/**
 * Decodes hex (either case); throws `SyntaxError` on an odd length or a non-hex character.
 *
 * @example fromHex('00FF'); // Uint8Array [0, 255]
 */
export function fromHex(text: string): Uint8Array<ArrayBuffer> {
  if (text.length % 2 !== 0) throw new SyntaxError('invalid hex: odd length');
  const out = new Uint8Array(text.length / 2);
  for (let i = 0; i < out.length; i++) {
    const hi = nibble(text, 2 * i);
    out[i] = (hi << 4) | nibble(text, 2 * i + 1);
  }
  return out;
}

function nibble(text: string, i: number): number {
  const code = text.charCodeAt(i);
  const value = code < 256 ? HEX_DECODE[code]! : INVALID;
  if (value === INVALID) throw new SyntaxError(`invalid hex: unexpected character at index ${i}`);
  return value;
}

/**
 * One new array holding `parts` back to back.
 *
 * @example concatBytes(new Uint8Array([1]), new Uint8Array([2, 3])); // Uint8Array [1, 2, 3]
 */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/**
 * True when `a` and `b` hold the same bytes. Equal-length inputs are compared in full without an
 * early exit, so timing does not reveal where they differ (lengths are not secret here).
 *
 * @example equalBytes(tagA, tagB);
 */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}
