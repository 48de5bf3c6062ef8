// The package compiles against ES2023, whose lib lacks this ES2024 method; every runtime Strata
// supports (Node >= 20.18, workerd, current browsers) has it.
interface WellFormedString {
  isWellFormed(): boolean;
}

/**
 * False when `text` has a lone surrogate: UTF-8 (Redis, Postgres, every JSON encoder) cannot carry
 * one, so it would be stored as U+FFFD, a different string from the one a cache holds.
 * @example isWellFormed('a\uD800'); // false
 */
export function isWellFormed(text: string): boolean {
  return isWellFormedOf.call(text);
}

// Taken once and called with `.call`: see strings.ts (it runs for every id of every read).
const isWellFormedOf = (String.prototype as unknown as WellFormedString).isWellFormed;

/**
 * True when `text` is at most `maxBytes` bytes of UTF-8, counted without allocating (a lone
 * surrogate counts 3, as U+FFFD).
 * @example fitsUtf8('é', 1); // false: 2 bytes
 */
export function fitsUtf8(text: string, maxBytes: number): boolean {
  // Every UTF-16 code unit is 1 to 3 bytes (a surrogate pair is 4 for two units).
  if (text.length * 3 <= maxBytes) return true;
  if (text.length > maxBytes) return false;
  if (maxBytes <= SCRATCH_MAX) {
    // Native, and it stops at the first character that does not fit.
    return encoder.encodeInto(text, scratchOf(maxBytes)).read === text.length;
  }
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && isLowSurrogate(text.charCodeAt(i + 1))) {
      bytes += 4;
      i++;
    } else bytes += 3;
    if (bytes > maxBytes) return false;
  }
  return true;
}

const encoder = new TextEncoder();
const SCRATCH_MAX = 4096;
const scratch = new Map<number, Uint8Array>();

function scratchOf(bytes: number): Uint8Array {
  let buffer = scratch.get(bytes);
  if (buffer === undefined) {
    buffer = new Uint8Array(bytes);
    scratch.set(bytes, buffer);
  }
  return buffer;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
