import { PG_EPOCH_MS } from './stored-form.js';

/**
 * ISO 8601 date-times, as JS writes them (`new Date().toISOString()`: '2024-01-31T10:00:00.000Z')
 * and the like: a date, 'T' or a space, hh:mm[:ss[.fraction]], then 'Z' or an offset of at most
 * 15:59 (Postgres' limit). What Postgres stores for such text is a pure function of it, whatever
 * the session: a timestamptz at that instant, a timestamp without time zone the clock as written
 * (the offset dropped), a date the day as written (the time dropped). Only the text Postgres
 * answers depends on the session; these give the text of the ISO DateStyle, TimeZone UTC.
 */
const ISO =
  /^(\d{4}-\d\d-\d\d)[T ]([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.(\d+))?)?(Z|([+-])(0\d|1[0-5])(?::?([0-5]\d))?)?$/;

/** The day of an ISO 8601 date-time, as a date column stores it, or undefined. */
export function isoDay(text: string): string | undefined {
  return ISO.exec(text)?.[1];
}

/**
 * An ISO 8601 date-time as Postgres answers it stored in timestamp(`precision`) (`zoned`:
 * timestamptz, at +00), or undefined: not ISO 8601, no offset for a timestamptz (the session's
 * TimeZone would decide), or a year out of 1-9999 once at UTC (left to Postgres' text: 'BC').
 */
export function isoTimestamp(text: string, precision: number, zoned?: boolean): string | undefined {
  const m = ISO.exec(text);
  if (!m || (zoned && !m[6])) return undefined;
  const [, day, h, min, s = '00', f = '', , sign, oh = 0, om = 0] = m;
  // Postgres reads the fraction as a double, times 10^6, rint (ties to even): '.0000025' is 2µs.
  const x = +`0.${f}` * 1e6;
  let us = Math.round(x);
  if (us - x === 0.5 && us % 2) us--;
  const offset = zoned ? (sign === '-' ? -60_000 : 60_000) * (60 * +oh + +om) : 0;
  // A day that does not exist was refused by the column's check (datetime-input.ts): 02-30 is not read as 03-01.
  const at = Date.parse(`${day}T${h}:${min}:${s}Z`) - offset;
  if (Number.isNaN(at)) return undefined;
  // Then to the column's precision, half away from 2000-01-01 (AdjustTimestampForTypmod).
  const unit = 10 ** (6 - precision);
  const r = us % unit;
  us += (2 * r > unit || (2 * r === unit && at >= PG_EPOCH_MS) ? unit : 0) - r;
  const iso = new Date(at + (us >= 1e6 ? 1000 : 0)).toISOString();
  us %= 1e6;
  if (!/^(?!0000)\d{4}-/.test(iso)) return undefined;
  const fraction = us ? `.${`${us}`.padStart(6, '0').replace(/0+$/, '')}` : '';
  return `${iso.slice(0, 10)} ${iso.slice(11, 19)}${fraction}${zoned ? '+00' : ''}`;
}
