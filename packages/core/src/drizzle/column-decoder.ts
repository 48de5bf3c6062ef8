import type { CompiledColumn } from '../schema/types.js';

/** What turns a driver's value of a column into the row's: the column's own `mapFromDriverValue`, or ours. */
export interface Decoder {
  mapFromDriverValue(value: unknown): unknown;
}

// timestamp(tz)_out in the ISO DateStyle: the year as written (at least 4 digits), an offset for timestamptz.
const ISO_TIMESTAMP =
  /^(\d{4,})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?(?:([+-])(\d\d)(?::(\d\d)(?::(\d\d))?)?)?( BC)?$/;

/**
 * The decoder of a column's values. A date-mode timestamp's text is read here: Drizzle reads it
 * with `new Date(text)`, whose non-ISO parser takes years 0-99 for 1900-1999 ('0050-06-01
 * 10:00:00+00' came back as 1950 from Postgres, where a cached copy said 0050), and which no
 * runtime is bound to read at all. Any other text (infinity) is left to Drizzle.
 */
export function decoderOf(c: CompiledColumn): Decoder {
  if (c.column.columnType !== 'PgTimestamp') return c.column;
  return {
    mapFromDriverValue: (value) =>
      (typeof value === 'string' && timestampOf(value)) || c.column.mapFromDriverValue(value),
  };
}

/** The instant an ISO timestamp's text names (UTC without an offset), or undefined for another text. */
function timestampOf(text: string): Date | undefined {
  const m = ISO_TIMESTAMP.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, fraction = '', sign, oh = '0', om = '0', os = '0', bc] = m;
  const year = bc ? 1 - Number(y) : Number(y); // 1 BC is year 0
  const date = new Date(0);
  // setUTCFullYear takes years 0-99 as they are (Date.UTC would add 1900).
  date.setUTCFullYear(year, Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s), Number(fraction.padEnd(3, '0').slice(0, 3)));
  const offset = (Number(oh) * 3600 + Number(om) * 60 + Number(os)) * 1000;
  return new Date(date.getTime() - (sign === '-' ? -offset : offset));
}
