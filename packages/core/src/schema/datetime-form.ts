import type { PgColumn } from 'drizzle-orm/pg-core';

/**
 * String-mode date/time columns (`timestamp`, `timestamptz`, `date`, `time`, `timetz`, `interval`)
 * are answered by Postgres in its own text, which depends on the session (DateStyle, TimeZone,
 * IntervalStyle), so Strata cannot compute it from a value. A write-through write caches the row
 * Postgres returned; a write-behind row is cached before Postgres sees it, so a write-behind set
 * takes such a value only in the text Postgres answers it in (ISO DateStyle, the postgres
 * IntervalStyle, a timestamptz at +00: a session in UTC, the default of the servers Strata runs on),
 * and refuses any other with VALIDATION_FAILED: before, every tier answered '2024-01-01T10:00:00Z'
 * until the flush, then '2024-01-01 10:00:00+00'.
 */
export type DateTimeForm = (text: string) => string | undefined;

type Column = PgColumn & { precision?: number; withTimezone?: boolean; fields?: string };

// The year as EncodeDateOnly writes it: %04d, so 4 digits, or more without a leading zero.
const DATE = '(\\d{4}|[1-9]\\d{4,})-(\\d\\d)-(\\d\\d)';
const TIME = '(\\d\\d):([0-5]\\d):([0-5]\\d)(?:\\.(\\d*[1-9]))?';
const BC = '( BC)?';
// timetz as EncodeTimezone writes an offset: minutes only when not zero, seconds likewise; +00, not -00.
const OFFSET = '((?!-00$)[+-]\\d\\d(?::(?!00$)[0-5]\\d|:[0-5]\\d:(?!00$)[0-5]\\d)?)';
const INFINITE = /^-?infinity$/;

/** The check of a write-behind value of a Drizzle column, or undefined: its message when `text` is not Postgres' own. */
export function dateTimeFormOf(column: PgColumn): DateTimeForm | undefined {
  const c = column as Column;
  const precision = c.precision ?? 6;
  switch (c.columnType) {
    case 'PgTimestampString': {
      const zone = c.withTimezone ? '\\+00' : '';
      const shape = new RegExp(`^${DATE} ${TIME}${zone}${BC}$`);
      const example = `2024-01-31 10:00:00${c.withTimezone ? '+00' : ''}`;
      return (t) => (INFINITE.test(t) || isTimestamp(shape.exec(t), precision) ? undefined : refused(example));
    }
    case 'PgDateString': {
      const shape = new RegExp(`^${DATE}${BC}$`);
      return (t) => (INFINITE.test(t) || shape.test(t) ? undefined : refused('2024-01-31'));
    }
    case 'PgTime': {
      const shape = new RegExp(`^${TIME}${c.withTimezone ? OFFSET : ''}$`);
      const example = `10:00:00${c.withTimezone ? '+05:30' : ''}`;
      return (t) => {
        const m = shape.exec(t);
        const fits = m && (Number(m[1]) < 24 || /^24:00:00(?!\.)/.test(t)) && (m[4] ?? '').length <= precision;
        return fits ? undefined : refused(example);
      };
    }
    case 'PgInterval':
      // A field restriction (`day to second`…) truncates: left to Postgres, refused here.
      return (t) => (c.fields === undefined && t === intervalText(t, precision) ? undefined : refused('1 year 2 mons 3 days 04:05:06'));
  }
  return undefined;
}

function isTimestamp(m: RegExpExecArray | null, precision: number): boolean {
  return m !== null && Number(m[4]) < 24 && (m[7] ?? '').length <= precision && !/^0+$/.test(m[1]!);
}

function refused(example: string): string {
  return `a write-behind row is cached before Postgres stores it: write this date/time as Postgres answers it (e.g. '${example}'), or use write-through (or mode 'date')`;
}

// The postgres IntervalStyle's fields, each signed (a `+` after a negative one), then the time.
const INTERVAL =
  /^(?:([+-]?\d+) years? ?)?(?:([+-]?\d+) mons? ?)?(?:([+-]?\d+) days? ?)?(?:([+-])?(\d+):(\d\d):(\d\d)(?:\.(\d{1,6}))?)?$/;

/**
 * The text EncodeInterval (IntervalStyle postgres) writes for the interval `text` reads as, when
 * `text` has that shape; undefined when it does not (or its fraction is past `precision`).
 */
function intervalText(text: string, precision: number): string | undefined {
  const m = INTERVAL.exec(text);
  if (!m || text === '' || (m[8] ?? '').length > precision) return undefined;
  const months = Number(m[1] ?? 0) * 12 + Number(m[2] ?? 0);
  const sign = m[4] === '-' ? -1 : 1;
  const micros =
    sign * ((Number(m[5] ?? 0) * 3600 + Number(m[6] ?? 0) * 60 + Number(m[7] ?? 0)) * 1e6 + Number((m[8] ?? '').padEnd(6, '0')));
  const parts: string[] = [];
  let before = false; // the field written last was negative
  for (const [value, unit] of [
    [Math.trunc(months / 12), 'year'],
    [months % 12, 'mon'],
    [Number(m[3] ?? 0), 'day'],
  ] as const) {
    if (value === 0) continue;
    parts.push(`${before && value > 0 ? '+' : ''}${value} ${unit}${value === 1 ? '' : 's'}`);
    before = value < 0;
  }
  if (parts.length === 0 || micros !== 0) {
    const abs = Math.abs(micros);
    const seconds = Math.floor(abs / 1e6) % 60;
    const fraction = String(abs % 1e6).padStart(6, '0').replace(/0+$/, '');
    const clock = `${pad(Math.floor(abs / 3.6e9))}:${pad(Math.floor(abs / 6e7) % 60)}:${pad(seconds)}`;
    parts.push(`${micros < 0 ? '-' : before ? '+' : ''}${clock}${fraction ? `.${fraction}` : ''}`);
  }
  return parts.join(' ');
}

const pad = (n: number) => String(n).padStart(2, '0');
