/**
 * What Postgres' date/time input takes, for string-mode `timestamp`, `timestamptz`, `date`, `time`,
 * `timetz` and `interval` columns, checked before a write: a write-behind `set` is acknowledged
 * before Postgres sees the row, so a value the column refuses ('not a date': 22007) was served from
 * L2 by every isolate (and laid over every search) until its flush dead-lettered it.
 *
 * A superset, on purpose: Postgres reads dates in many forms (`epoch`, `today`, `J2451187`,
 * `January 8, 1999`, time zone names and abbreviations, ISO 8601, DateStyle orders…) and refusing
 * one it takes would lose a write. So only what no form takes is refused: a character its parser
 * never reads (ParseDateTime reads ASCII letters, digits, punctuation and whitespace), no digit and
 * no special word (an interval: no digit, `.` or `P`), and a leading ISO `YYYY-MM-DD` whose month or day does not exist (22008).
 * `datetime-input.test.ts` holds it to a real Postgres: every value Postgres takes passes.
 */

// Bytes ParseDateTime (and interval's ISO 8601 reader) reads; any other is DTERR_BAD_FORMAT.
const FOREIGN = /[^\t-\r -~]/;
// The words that are a value without a digit ('now', 'today'…); interval takes 'infinity' from 17.
const SPECIAL = /epoch|infinity|now|today|tomorrow|yesterday|allballs/i;
// An interval needs no digit either: '.' is a zero ('.', '.5 day'), and so is ISO 8601's 'PT'.
const INTERVAL_VALUE = /[\d.p]/i;
// A leading ISO date: with four digits first, Postgres reads year-month-day whatever DateStyle is.
const ISO_DATE = /^[\t-\r ]*(\d{4})-(\d\d?)-(\d\d?)(?![\d.-])/;

/**
 * The SQLSTATE Postgres would refuse `text` with as a value of a date/time type (`interval` when
 * `interval`), or undefined when it may take it.
 * @example whyNotDateTime('not a date', false); // '22007'
 */
export function whyNotDateTime(text: string, interval: boolean): string | undefined {
  if (FOREIGN.test(text) || !((interval ? INTERVAL_VALUE : /\d/).test(text) || SPECIAL.test(text))) {
    return '22007';
  }
  const iso = interval ? null : ISO_DATE.exec(text);
  if (iso === null) return undefined;
  const [, y, m, d] = iso.map(Number) as [number, number, number, number];
  // Year 0 does not exist (1 BC precedes AD 1); a BC year's leap rule is shifted by one, so
  // February 29th is left to Postgres when the text says BC.
  const february = (y % 4 === 0 && (y % 100 > 0 || y % 400 === 0)) || /bc/i.test(text) ? 29 : 28;
  const days = m === 2 ? february : 31 - (((m - 1) % 7) % 2);
  return y < 1 || m < 1 || m > 12 || d < 1 || d > days ? '22008' : undefined;
}
