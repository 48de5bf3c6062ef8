import { StrataError } from './errors.js';

type DurationUnit = 'ms' | 's' | 'm' | 'h' | 'd';

/**
 * A length of time: milliseconds as a number, or a string with a unit ('250ms', '30s', '5m', '1h',
 * '1d', '1.5s'). Where a TTL is meant, 0 means "never expire" as in the Go library Strata.
 * @example
 * const ttl: Duration = '30s'; // same as 30_000
 * defineSchema({ table: players, l1: { ttl }, l2: { ttl: '30m' } });
 */
export type Duration = number | `${number}${DurationUnit}`;

const UNIT_MS: Readonly<Record<DurationUnit, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

// No sign, no exponent, no spaces: anything else is more likely a typo than a wish.
const PATTERN = /^(\d+(?:\.\d+)?|\.\d+)(ms|s|m|h|d)$/;

/**
 * Converts a {@link Duration} to whole milliseconds. Throws `StrataError('INVALID_CONFIG')` naming
 * `field` for negatives, NaN, Infinity, unknown units and anything else it cannot read.
 *
 * Fractions are rounded to the nearest millisecond, except that a positive duration never rounds
 * down to 0, since 0 would turn "expire almost at once" into "never expire".
 *
 * @example
 * toMs('1.5s');         // 1500
 * toMs(250);            // 250
 * toMs('5x', 'l1.ttl'); // throws: strata: invalid duration for l1.ttl: "5x" ...
 */
export function toMs(d: Duration, field = 'duration'): number {
  const ms = parse(d as unknown, field);
  if (ms > Number.MAX_SAFE_INTEGER) throw invalid(field, d, 'is too large');
  const rounded = Math.round(ms);
  return rounded === 0 && ms > 0 ? 1 : rounded;
}

function parse(d: unknown, field: string): number {
  if (typeof d === 'number') {
    if (Number.isNaN(d)) throw invalid(field, d, 'is NaN');
    if (!Number.isFinite(d)) throw invalid(field, d, 'must be finite');
    if (d < 0) throw invalid(field, d, 'must not be negative');
    return d;
  }
  if (typeof d !== 'string') throw invalid(field, d, "must be a number of ms or a string like '30s'");
  const match = PATTERN.exec(d);
  if (match === null) {
    const why = d.trim().startsWith('-')
      ? 'must not be negative'
      : "expected e.g. '250ms', '30s', '5m', '1h', '1d'";
    throw invalid(field, d, why);
  }
  const [, amount, unit] = match as unknown as [string, string, DurationUnit];
  return Number(amount) * UNIT_MS[unit];
}

function invalid(field: string, value: unknown, why: string): StrataError {
  const shown = typeof value === 'string' ? JSON.stringify(value) : String(value);
  return new StrataError('INVALID_CONFIG', `invalid duration for ${field}: ${shown} ${why}`, {
    details: { field, value },
  });
}
