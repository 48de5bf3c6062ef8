/**
 * What Postgres' `numeric` input takes, checked before a write: a write-behind `set` is acknowledged
 * before Postgres sees the row, so a value `numeric` refuses was served from L2 by every isolate
 * (and laid over every search) until its flush dead-lettered it (22P02, 22003). The rules are
 * Postgres 15's `numeric_in` and typmod check (`numeric-input.test.ts` compares them with a real
 * Postgres): the forms Postgres 16 added (`1_000`, `0x1F`) are refused, as older servers do.
 */

const SPACE = '[ \\t\\n\\r\\v\\f]*';
// 1 sign, 2 integer digits, 3 their fraction, 4 a fraction alone, 5 exponent, 6 infinity, 7 NaN.
export const NUMERIC = new RegExp(
  `^${SPACE}(?:([+-]?)(?:(\\d+)(?:\\.(\\d*))?|\\.(\\d+))(?:[eE]([+-]?\\d+))?|([+-]?(?:infinity|inf))|(nan))${SPACE}$`,
  'i',
);
/** numeric's storage limits: digits before the point, digits after it, and the exponent's bound. */
const MAX_INTEGER_DIGITS = 131_072;
const MAX_SCALE = 16_383;
const MAX_EXPONENT = 1_073_741_823; // INT_MAX / 2

/** A `numeric` column's typmod: none (unconstrained), or precision and scale (scale 0 when absent). */
export interface NumericType {
  readonly precision?: number | undefined;
  readonly scale?: number | undefined;
}

/**
 * Why Postgres would refuse `text` as a value of `numeric(precision, scale)`, or undefined.
 * @example whyNotNumeric('12345.67', { precision: 6, scale: 2 }); // 'numeric(6, 2) must round to …'
 */
export function whyNotNumeric(text: string, type: NumericType): string | undefined {
  const match = NUMERIC.exec(text);
  if (!match) return 'not a number that Postgres numeric takes (22P02)';
  const [, , whole, fractionOf, fraction, exponentText, infinity, nan] = match;
  const { precision } = type;
  const scale = type.scale ?? 0;
  const typed = precision === undefined ? 'numeric' : `numeric(${precision}, ${scale})`;
  if (nan !== undefined) return undefined;
  if (infinity !== undefined) {
    return precision === undefined ? undefined : `${typed} cannot hold an infinite value (22003)`;
  }
  const exponent = Number(exponentText ?? '0');
  const overflow = 'value overflows numeric format (22003)';
  if (!(Math.abs(exponent) < MAX_EXPONENT)) return overflow;
  const after = fractionOf ?? fraction ?? '';
  const all = (whole ?? '') + after;
  if (Math.max(0, after.length - exponent) > MAX_SCALE) return overflow;
  const digits = all.replace(/^0+/, '');
  if (digits === '') return undefined; // zero: fits every typmod
  // The significant digits, then the point: digits before it in the value.
  const integerDigits = (whole ?? '').length + exponent - (all.length - digits.length);
  if (integerDigits > MAX_INTEGER_DIGITS) return overflow;
  if (precision === undefined) return undefined;
  // |value| rounded to `scale` decimals (half away from zero), in units of 10^-scale: its digits.
  const shift = exponent - after.length + scale; // value × 10^scale = digits × 10^shift
  let rounded: number; // how many digits that integer has (0: it rounds to zero)
  if (shift >= 0) rounded = digits.length + shift;
  else {
    const kept = digits.length + shift;
    const up = kept >= 0 && (digits[kept] ?? '0') >= '5';
    const head = kept > 0 ? digits.slice(0, kept) : '';
    if (head === '') rounded = up ? 1 : 0;
    else rounded = up && /^9+$/.test(head) ? head.length + 1 : head.length;
  }
  return rounded > precision
    ? `${typed} must round to an absolute value less than 10^${precision - scale} (22003)`
    : undefined;
}
