import type { PgColumn } from 'drizzle-orm/pg-core';
import { isoDay, isoTimestamp } from './iso-timestamp.js';

/**
 * String-mode date/time columns (`timestamp`, `timestamptz`, `date`, `time`, `timetz`, `interval`)
 * are answered by Postgres in its own text, which depends on the session (DateStyle, TimeZone,
 * IntervalStyle), so Strata cannot compute it from a value. A write-through write caches the row
 * Postgres returned; a write-behind row is cached before Postgres sees it, so a write-behind set
 * takes such a value only in the text Postgres answers it in (ISO DateStyle, the postgres
 * IntervalStyle, a timestamptz at +00: a session in UTC, the default of the servers Strata runs on),
 * or, for timestamp, timestamptz and date, in ISO 8601 (what `toISOString()` writes), turned into
 * that text (iso-timestamp.ts); it refuses any other with VALIDATION_FAILED: before, every tier
 * answered 'January 8, 1999' until the flush, then '1999-01-08'. The regexes accept only text
 * Postgres answers unchanged, the conversion only what it answers so (stored-form-postgres.test.ts);
 * a negative interval is refused, being rare.
 */
/** Postgres' own text of a write-behind value, or undefined when Strata cannot tell it. */
export type DateTimeForm = (text: string) => string | undefined;

type Column = PgColumn & { precision?: number; withTimezone?: boolean; fields?: string };

// The year as EncodeDateOnly writes it (%04d: 4 digits, or more without a leading zero).
const DATE = '(?:\\d{4}|[1-9]\\d{4,})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12]\\d|3[01])';
const CLOCK = '[0-5]\\d:[0-5]\\d';
// timetz's offset as EncodeTimezone writes it: minutes (then seconds) only when not zero; +00, not -00.
const OFFSET = '(?:\\+|-(?!00$))\\d\\d(?::(?!00$)[0-5]\\d|:[0-5]\\d:(?!00$)[0-5]\\d)?';
// Interval fields as EncodeInterval writes them (positive): '1 year', '2 years', under 12 mons.
const COUNT = (unit: string) => `(?:1 ${unit}|(?:[2-9]|[1-9]\\d+) ${unit}s)(?: |$)`;
const INTERVAL = `(?:${COUNT('year')})?(?:(?:1 mon|(?:[2-9]|1[01]) mons)(?: |$))?(?:${COUNT('day')})?`;

/** The form of a Drizzle column's write-behind values and the message of a refusal, or undefined. */
export function dateTimeFormOf(column: PgColumn): [DateTimeForm, string] | undefined {
  const c = column as Column;
  const p = c.precision ?? 6;
  // Seconds' fraction: at most the column's digits, no trailing zero.
  const time = `${CLOCK}${p > 0 ? `(?:\\.\\d{0,${p - 1}}[1-9])?` : ''}`;
  const tz = c.withTimezone;
  const [shape, example] =
    {
      PgTimestampString: [
        `${DATE} (?:[01]\\d|2[0-3]):${time}${tz ? '\\+00' : ''}(?: BC)?|-?infinity`,
        `2024-01-31 10:00:00${tz ? '+00' : ''}`,
      ],
      PgDateString: [`${DATE}(?: BC)?|-?infinity`, '2024-01-31'],
      PgTime: [`(?:(?:[01]\\d|2[0-3]):${time}|24:00:00)${tz ? OFFSET : ''}`, `10:00:00${tz ? '+05:30' : ''}`],
      // A field restriction (`day to second`…) truncates: not taken (the shape matches nothing).
      PgInterval: [
        c.fields
          ? '(?!)'
          : `00:00:00|(?=.)${INTERVAL}(?:(?!00:00:00$)(?:\\d\\d|[1-9]\\d{2,}):${time})?(?<! )`,
        '1 year 2 mons 3 days 04:05:06',
      ],
    }[c.columnType] ?? [];
  if (shape === undefined) return undefined;
  const re = new RegExp(`^(?:${shape})$`);
  const iso: DateTimeForm | undefined = {
    PgTimestampString: (t: string) => isoTimestamp(t, p, tz),
    PgDateString: isoDay,
  }[c.columnType];
  return [
    (text) => (re.test(text) ? text : iso?.(text)),
    `a write-behind row is cached before Postgres stores it: write this as Postgres answers it ('${example}')${iso ? ' or as toISOString() writes it' : ''}, or write it through`,
  ];
}
