import type { CompiledColumn } from '../schema/types.js';

/** What turns a driver's value of a column into the row's: the column's own `mapFromDriverValue`, or ours. */
export interface Decoder {
  mapFromDriverValue(value: unknown): unknown;
}

// timestamp(tz)_out in the ISO DateStyle: the year as written (4 digits), the offset in whole hours or minutes.
const ISO_TIMESTAMP = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)?(:\d\d)?$/;

/**
 * The decoder of a column's values. A date-mode timestamp's text is read as ISO 8601 here: Drizzle
 * reads it with `new Date(text)`, whose non-ISO parser takes years 0-99 for 1900-1999 ('0050-06-01
 * 10:00:00+00' came back as 1950 from Postgres, where a cached copy said 0050). Any other text
 * (an offset in seconds, BC, infinity) is left to Drizzle.
 */
export function decoderOf(c: CompiledColumn): Decoder {
  const { column } = c;
  if (column.columnType !== 'PgTimestamp') return column;
  return {
    mapFromDriverValue(value) {
      const m = typeof value === 'string' && ISO_TIMESTAMP.exec(value);
      return m
        ? new Date(`${m[1]}T${m[2]}${m[3] ? `${m[3]}${m[4] ?? ':00'}` : 'Z'}`)
        : column.mapFromDriverValue(value);
    },
  };
}
