import { NUMERIC, type NumericType } from './numeric-input.js';

/**
 * The text Postgres answers for `text` stored as `numeric(precision, scale)` (numeric_in then
 * numeric_out): a pure function of the text and the typmod, so a write-behind row is cached as the
 * flush will store it ('1e2' is '100', '+001.005' in numeric(10, 2) is '1.01', '1.5' is '1.50').
 * Rounds half away from zero, as numeric does; a zero has no sign. `text` passed `whyNotNumeric`.
 * @example numericText('1.005', { precision: 10, scale: 2 }); // '1.01'
 */
export function numericText(text: string, type: NumericType): string {
  const match = NUMERIC.exec(text);
  if (!match) return text;
  const [, sign, whole = '', fractionOf, fraction, exponentText, infinity, nan] = match;
  if (nan !== undefined) return 'NaN';
  if (infinity !== undefined) return infinity.startsWith('-') ? '-Infinity' : 'Infinity';
  const after = fractionOf ?? fraction ?? '';
  const exponent = Number(exponentText ?? '0');
  // Unconstrained: the scale written (numeric_in's dscale), less the exponent; else the typmod's.
  const scale = type.precision === undefined ? Math.max(0, after.length - exponent) : (type.scale ?? 0);
  let digits = whole + after;
  let point = whole.length + exponent; // digits before the decimal point
  if (point < 0) {
    digits = '0'.repeat(-point) + digits;
    point = 0;
  }
  const keep = point + scale; // digits kept, the last one at 10^-scale
  digits = digits.padEnd(Math.max(keep, 0), '0');
  let kept = keep > 0 ? digits.slice(0, keep) : '';
  if (keep >= 0 && (digits[keep] ?? '0') >= '5') kept = increment(kept);
  // kept × 10^-scale: a negative scale (Postgres 15) adds zeros, a positive one a fraction.
  const places = Math.max(scale, 0);
  const padded = scale < 0 ? kept + '0'.repeat(-scale) : kept.padStart(places + 1, '0');
  const integer = padded.slice(0, padded.length - places).replace(/^0+(?=\d)/, '') || '0';
  const decimals = padded.slice(padded.length - places);
  const zero = !/[1-9]/.test(integer + decimals);
  return `${sign === '-' && !zero ? '-' : ''}${integer}${places > 0 ? `.${decimals}` : ''}`;
}

/** A decimal digit string plus one ('' is 0: '1'; '99' is '100'). */
function increment(digits: string): string {
  const at = digits.search(/9*$/);
  if (at === 0) return `1${'0'.repeat(digits.length)}`;
  return `${digits.slice(0, at - 1)}${Number(digits[at - 1]) + 1}${'0'.repeat(digits.length - at)}`;
}
