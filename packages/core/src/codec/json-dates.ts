import { codeAt } from '../strings.js';
import { decodeFailed, typeName } from './failures.js';

// Exactly what Date#toISOString writes (years beyond 9999 get a sign and six digits).
const ISO_DATE = /^(?:\d{4}|[+-]\d{6})-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** The range of a Date's time value (ECMAScript's TimeClip): ±100,000,000 days from the epoch. */
const MAX_TIME = 8.64e15;

/**
 * A `date` column's value as the JSON codec stores it, back as a Date: the time in ms since the
 * epoch (a whole number, what `Date#getTime` gives; the codec writes this since `json2`), or the
 * ISO string of `Date#toISOString` (what the codec wrote as `json`, and still reads: write-behind
 * messages and other shapes' queued rows written by instances of the version before). A number is
 * `new Date(ms)`, no parse: ~0.1–0.2 µs a date less on every L2 hit than the string's arithmetic.
 */
export function jsonDate(value: unknown, field: string, codec: string): Date {
  if (typeof value === 'number') {
    if (Number.isInteger(value) && value >= -MAX_TIME && value <= MAX_TIME) return new Date(value);
    throw decodeFailed(codec, `not a date's time in ms: ${value}`, undefined, field);
  }
  if (typeof value !== 'string') {
    throw decodeFailed(
      codec,
      `expected a date's time in ms or an ISO string, got ${typeName(value)}`,
      undefined,
      field,
    );
  }
  const ms = isoUtcMillis(value);
  if (ms !== undefined) return new Date(ms);
  const date = new Date(value);
  if (!ISO_DATE.test(value) || Number.isNaN(date.getTime())) {
    throw decodeFailed(codec, 'not an ISO date string', undefined, field);
  }
  return date;
}

/**
 * The time of a `YYYY-MM-DDTHH:MM:SS.mmmZ` string (what Date#toISOString writes for years 100 to
 * 9999) whose fields are in range, by arithmetic; undefined for anything else, which `new Date`
 * and ISO_DATE then judge. Parsing a date string is most of a row's decode after JSON.parse (every
 * L2 hit of a row with a timestamp). The day count by arithmetic rather than a `Date.UTC` call (a
 * builtin): H. Hinnant's days_from_civil, proleptic Gregorian, March-based years so February's
 * leap day comes last, `| 0` flooring (every operand is positive from year 100 on). Both roll a
 * day past the month's end over into the next (checked against `new Date` in json-codec.test.ts).
 * Characters by `codeAt` (see strings.ts: `s.charCodeAt` is a full call in a process with ioredis).
 */
export function isoUtcMillis(s: string): number | undefined {
  if (
    s.length !== 24 ||
    codeAt(s, 4) !== 45 ||
    codeAt(s, 7) !== 45 ||
    codeAt(s, 10) !== 84 ||
    codeAt(s, 13) !== 58 ||
    codeAt(s, 16) !== 58 ||
    codeAt(s, 19) !== 46 ||
    codeAt(s, 23) !== 90
  )
    return undefined;
  // Each a digit when 0 to 9; `>>> 0` turns a character below '0' into a large number.
  const y0 = codeAt(s, 0) - 48;
  const y1 = codeAt(s, 1) - 48;
  const y2 = codeAt(s, 2) - 48;
  const y3 = codeAt(s, 3) - 48;
  const mo0 = codeAt(s, 5) - 48;
  const mo1 = codeAt(s, 6) - 48;
  const d0 = codeAt(s, 8) - 48;
  const d1 = codeAt(s, 9) - 48;
  const h0 = codeAt(s, 11) - 48;
  const h1 = codeAt(s, 12) - 48;
  const mi0 = codeAt(s, 14) - 48;
  const mi1 = codeAt(s, 15) - 48;
  const s0 = codeAt(s, 17) - 48;
  const s1 = codeAt(s, 18) - 48;
  const ms0 = codeAt(s, 20) - 48;
  const ms1 = codeAt(s, 21) - 48;
  const ms2 = codeAt(s, 22) - 48;
  if (
    y0 >>> 0 > 9 ||
    y1 >>> 0 > 9 ||
    y2 >>> 0 > 9 ||
    y3 >>> 0 > 9 ||
    mo0 >>> 0 > 9 ||
    mo1 >>> 0 > 9 ||
    d0 >>> 0 > 9 ||
    d1 >>> 0 > 9 ||
    h0 >>> 0 > 9 ||
    h1 >>> 0 > 9 ||
    mi0 >>> 0 > 9 ||
    mi1 >>> 0 > 9 ||
    s0 >>> 0 > 9 ||
    s1 >>> 0 > 9 ||
    ms0 >>> 0 > 9 ||
    ms1 >>> 0 > 9 ||
    ms2 >>> 0 > 9
  )
    return undefined;
  const year = y0 * 1000 + y1 * 100 + y2 * 10 + y3;
  const month = mo0 * 10 + mo1;
  const day = d0 * 10 + d1;
  const hour = h0 * 10 + h1;
  const minute = mi0 * 10 + mi1;
  const second = s0 * 10 + s1;
  // Years below 100: Date.UTC would read them as 1900 + year.
  if (year < 100 || month < 1 || month > 12 || day < 1 || day > 31) return undefined;
  if (hour > 23 || minute > 59 || second > 59) return undefined;
  const y = month <= 2 ? year - 1 : year;
  const dayOfYear = (((month > 2 ? month - 3 : month + 9) * 153 + 2) / 5) | 0;
  const days = y * 365 + ((y / 4) | 0) - ((y / 100) | 0) + ((y / 400) | 0) + dayOfYear + day - 719_469;
  return ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + ms0 * 100 + ms1 * 10 + ms2;
}
