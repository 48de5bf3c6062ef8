import { StrataError } from '../errors.js';

/**
 * The payload of a cached search list: the fingerprint of its query, the row count, then each row's
 * L2 string behind its length — `{hash};{n};{len};{row}{len};{row}…`. The rows are embedded as the
 * codec wrote them (no JSON string escaping around them), so a read decodes each byte once: slices,
 * then the codec's own decode per row. The fingerprint is compared in full on read: a list is only
 * ever served for the query it was made for.
 *
 * @example encodeSearchList('3f9a…', ['{"id":"a"}']); // '3f9a…;1;10;{"id":"a"}'
 */
export function encodeSearchList(hash: string, rows: readonly string[]): string {
  const parts = [hash, ';', String(rows.length), ';'];
  for (const row of rows) parts.push(String(row.length), ';', row);
  return parts.join('');
}

/**
 * The row strings of a list payload, or undefined when it was made for another query (or by another
 * format: no fingerprint prefix). A payload that does not frame is an L2 failure (DECODE_FAILED).
 *
 * @example decodeSearchList('3f9a…;1;10;{"id":"a"}', '3f9a…'); // ['{"id":"a"}']
 */
export function decodeSearchList(payload: string, hash: string): string[] | undefined {
  if (!payload.startsWith(hash) || payload.charCodeAt(hash.length) !== SEMICOLON) return undefined;
  let at = hash.length + 1;
  const count = numberAt(payload, at);
  at = count.next;
  // Every row takes at least two characters ('0;'): a larger count is garbage, not an allocation.
  if (count.value * 2 > payload.length - at) throw broken('its count is larger than it');
  const rows: string[] = new Array(count.value);
  for (let i = 0; i < count.value; i++) {
    const length = numberAt(payload, at);
    const end = length.next + length.value;
    if (end > payload.length) throw broken('a row runs past its end');
    rows[i] = payload.slice(length.next, end);
    at = end;
  }
  if (at !== payload.length) throw broken('bytes after its last row');
  return rows;
}

const SEMICOLON = 59;
const ZERO = 48;
/** Longer than any count or length a list holds (a JS string is < 2^53): a digit run past it is garbage. */
const MAX_DIGITS = 15;

/** The decimal number at `from`, ended by a semicolon, and where what follows it starts. */
function numberAt(text: string, from: number): { value: number; next: number } {
  let value = 0;
  let at = from;
  for (; at < text.length && at - from <= MAX_DIGITS; at++) {
    const c = text.charCodeAt(at);
    if (c === SEMICOLON) break;
    const digit = c - ZERO;
    if (digit < 0 || digit > 9) throw broken('a count is not a number');
    value = value * 10 + digit;
  }
  if (at === from || text.charCodeAt(at) !== SEMICOLON) throw broken('a count is not a number');
  return { value, next: at + 1 };
}

function broken(why: string): StrataError {
  return new StrataError('DECODE_FAILED', `a cached search list does not decode: ${why}`);
}
