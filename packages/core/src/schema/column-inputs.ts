import { whyNotDateTime } from './datetime-input.js';
import { whyNotMacaddr } from './mac-input.js';
import { whyNotInet } from './network-input.js';

/**
 * What a Postgres type refuses of a value that its column's type check (insert-schema.ts) let
 * through, by Drizzle column type: a write-behind `set` is acknowledged before Postgres sees the
 * row, so such a value was served from every tier until its flush dead-lettered it. The checks of
 * an array column's base type apply to its items. `column-inputs.test.ts` holds them to Postgres.
 */
export type ColumnInput = (value: never) => string | undefined;

/** The SQLSTATE Postgres refuses a value of each Drizzle column type with; undefined when it takes it. */
const REFUSALS: Record<string, ColumnInput> = {
  PgTimestampString: (text: string) => whyNotDateTime(text, false),
  PgDateString: (text: string) => whyNotDateTime(text, false),
  PgTime: (text: string) => whyNotDateTime(text, false),
  PgInterval: (text: string) => whyNotDateTime(text, true),
  PgInet: (text: string) => whyNotInet(text, false),
  PgCidr: (text: string) => whyNotInet(text, true),
  PgMacaddr: (text: string) => whyNotMacaddr(text, false),
  PgMacaddr8: (text: string) => whyNotMacaddr(text, true),
  // Drizzle sends a Date as toISOString(): past year 9999 or before year 1 that is `+010000-…` or
  // `-000001-…`, which Postgres does not read (22007, 22009), and year 0 does not exist (22008).
  PgTimestamp: whyNotIsoYear,
  PgDate: whyNotIsoYear,
  // float4in refuses what rounds to zero without being zero (below half the least subnormal).
  PgReal: (n: number) => (n !== 0 && Math.abs(n) < 2 ** -150 ? '22003' : undefined),
  // An item of a line[] column is a whole line here only in abc mode: a tuple's items are numbers.
  PgLine: (line: number[]) => (Array.isArray(line) ? whyNotLine(line[0]!, line[1]!) : undefined),
  PgLineABC: ({ a, b }: { a: number; b: number }) => whyNotLine(a, b),
};

/**
 * The check of a Drizzle column type's values, or undefined; one message for them all: the SQL type
 * (`PgMacaddr8`: macaddr8, `PgDateString`: date) and the SQLSTATE.
 */
export function columnInput(type: string): ColumnInput | undefined {
  const refusal = REFUSALS[type];
  return (
    refusal &&
    ((value) => {
      const code = refusal(value);
      return (
        code &&
        `Postgres refuses this ${type
          .slice(2)
          .replace(/String|ABC/, '')
          .toLowerCase()} value (${code})`
      );
    })
  );
}

function whyNotIsoYear(date: Date): string | undefined {
  const year = date.getUTCFullYear();
  return year < 1 || year > 9999 ? `22008: year ${year}, not 1 to 9999` : undefined;
}

/** line_in: A and B both zero (within its 1e-6 epsilon) is no line. */
function whyNotLine(a: number, b: number): string | undefined {
  return Math.abs(a) <= 1e-6 && Math.abs(b) <= 1e-6 ? '22P02: A and B both zero' : undefined;
}

/**
 * Why a nested array is no Postgres array: its sub-arrays must all have the same shape, none
 * empty ('{{1},{1,2}}' and '{{}}' are malformed array literals, 22P02).
 */
export function whyNotRectangular(items: readonly unknown[]): string | undefined {
  return items.some(Array.isArray) && shapeOf(items) === undefined
    ? 'sub-arrays must all have the same length, none empty (22P02)'
    : undefined;
}

/** '' for a non-array, 'n,…' for an array of n items of one shape, undefined when ragged. */
function shapeOf(value: unknown): string | undefined {
  if (!Array.isArray(value)) return '';
  const inner = value.map(shapeOf);
  const first = inner[0];
  if (first === undefined || first === '0' || inner.some((shape) => shape !== first)) {
    return value.length === 0 ? '0' : undefined;
  }
  return `${value.length},${first}`;
}
