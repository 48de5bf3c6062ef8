import type { PgColumn } from 'drizzle-orm/pg-core';
import { macaddrText } from './mac-input.js';
import { inetText } from './network-input.js';
import { numericText } from './numeric-form.js';
import type { NumericType } from './numeric-input.js';

/**
 * A value as Postgres will store and answer it, for the column types where that is a pure function
 * of the value (and the column's typmod), whatever the session's settings: applied to every row
 * before any tier takes it, so a cached copy (a write-behind row before its flush above all) equals
 * what a read from Postgres answers. The value passed the column's checks (validation.ts).
 * Session-dependent text (string-mode date/time) is not here: see datetime-form.ts.
 */
export type StoredForm = (value: unknown) => unknown;

type Column = PgColumn & { length?: number; precision?: number; scale?: number; baseColumn?: PgColumn };

// Postgres counts timestamps from 2000-01-01 and rounds half away from that zero (AdjustTimestampForTypmod).
export const PG_EPOCH_MS = 946_684_800_000;
const DAY_MS = 86_400_000;

/** The stored form of a Drizzle column's values, or undefined where they are stored as they are. */
export function storedFormOf(column: PgColumn): StoredForm | undefined {
  const c = column as Column;
  switch (c.columnType) {
    case 'PgUUID':
      return text((t) => t.toLowerCase());
    case 'PgChar':
      return text((t) => blankPadded(t, c.length ?? 1));
    case 'PgReal':
      return (v) => (typeof v === 'number' ? float4(v) : v);
    case 'PgNumeric':
      return text((t) => numericText(t, c as NumericType));
    case 'PgNumericNumber':
      return (v) => (typeof v === 'number' ? Number(numericText(String(v), c as NumericType)) : v);
    case 'PgTimestamp':
      return (c.precision ?? 6) < 3 ? date((ms) => rounded(ms, 10 ** (3 - c.precision!))) : undefined;
    case 'PgDate':
      // Drizzle sends toISOString(): Postgres keeps the UTC day and drops the time.
      return date((ms) => Math.floor(ms / DAY_MS) * DAY_MS);
    case 'PgMacaddr':
    case 'PgMacaddr8':
      return text((t) => macaddrText(t, c.columnType === 'PgMacaddr8'));
    case 'PgInet':
    case 'PgCidr':
      return text((t) => inetText(t, c.columnType === 'PgCidr'));
    case 'PgArray': {
      const item = c.baseColumn && storedFormOf(c.baseColumn);
      return item && ((v) => (Array.isArray(v) ? eachItem(v, item) : v));
    }
  }
  return undefined;
}

function text(form: (t: string) => string): StoredForm {
  return (v) => (typeof v === 'string' ? form(v) : v);
}

function date(form: (ms: number) => number): StoredForm {
  return (v) => (v instanceof Date && !Number.isNaN(v.getTime()) ? new Date(form(v.getTime())) : v);
}

/** Items of an array column (nested arrays too), nulls kept. */
function eachItem(items: readonly unknown[], form: StoredForm): unknown[] {
  return items.map((v) =>
    Array.isArray(v) ? eachItem(v, form) : v === null || v === undefined ? v : form(v),
  );
}

/**
 * char(n) pads to n characters (code points, not UTF-16 units) with spaces, and answers them.
 * Longer text was refused by the column's check (bpchar drops only trailing spaces past n).
 */
function blankPadded(t: string, n: number): string {
  let points = 0;
  for (const _ of t) points++;
  return points < n ? t + ' '.repeat(n - points) : t;
}

/**
 * What float4out answers, read back by the driver: Ryu's shortest decimal strictly inside the
 * interval that rounds to the same single-precision float, the closest of those, a tie to an even
 * last digit (1.23456789 is stored as 1.2345679, -2723334.34 as -2723334.2, not -2723334.3).
 */
export function float4(n: number): number {
  const f = Math.fround(n);
  if (f === 0 || !Number.isFinite(f)) return f;
  // Half-way to the neighbouring floats: exact in a double.
  const low = (f + nextFloat(f, -1)) / 2;
  const high = (f + nextFloat(f, 1)) / 2;
  for (let digits = 1; digits <= 9; digits++) {
    // f ≈ k × 10^-x with `digits` digits in k: k and its neighbours (the product may round across).
    const x = digits - 1 - Math.floor(Math.log10(Math.abs(f)));
    const k = Math.round(f * 10 ** x);
    let best: number | undefined;
    for (const c of [k, k - 1, k + 1]) {
      const v = Number(`${c}e${-x}`);
      const [d, bestD] = [Math.abs(v - f), Math.abs((best ?? Number.POSITIVE_INFINITY) - f)];
      if (v > low && v < high && (d < bestD || (d === bestD && c % 2 === 0))) best = v;
    }
    if (best !== undefined) return best;
  }
  return f;
}

const bits = new Float32Array(1);
const word = new Uint32Array(bits.buffer);

/** The float after `f` (a float, not zero) towards +∞ (`way` 1) or -∞ (-1). */
function nextFloat(f: number, way: 1 | -1): number {
  bits[0] = f;
  word[0] = word[0]! + (f > 0 === way > 0 ? 1 : -1);
  return bits[0]!;
}

/** `ms` rounded to a multiple of `unit` ms from Postgres' epoch, half away from it. */
function rounded(ms: number, unit: number): number {
  const t = ms - PG_EPOCH_MS;
  const away = Math.floor((Math.abs(t) + unit / 2) / unit) * unit;
  return PG_EPOCH_MS + (t < 0 ? -away : away);
}
