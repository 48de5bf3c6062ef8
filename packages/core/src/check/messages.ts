// What a failed check says, worded as zod 4's English messages: Strata validated with zod until its
// Worker bundle had to shrink (issue 13), and its errors keep saying the same thing.

/** How a message names a value's type: `number`, `NaN`, `Infinity`, `null`, `array`, `Date`… */
function typeName(value: unknown): string {
  if (typeof value === 'number') return Number.isFinite(value) ? 'number' : String(value);
  if (typeof value !== 'object') return typeof value;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  const made = (value as { constructor?: { name?: unknown } }).constructor;
  const own = Object.getPrototypeOf(value) !== Object.prototype && 'constructor' in value && made;
  return own ? String(made.name) : 'object';
}

/** `Invalid input: expected number, received string` */
export function expected(type: string, value: unknown): string {
  return `Invalid input: expected ${type}, received ${typeName(value)}`;
}

/** `"a"`, `1`, `2n`: a literal as the messages quote it. */
function show(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  return typeof value === 'string' ? `"${value}"` : String(value);
}

/** `Invalid option: expected one of "a"|"b"` (or `Invalid input: expected "a"` for one value). */
export function notOneOf(values: readonly unknown[]): string {
  return values.length === 1
    ? `Invalid input: expected ${show(values[0])}`
    : `Invalid option: expected one of ${values.map(show).join('|')}`;
}

/**
 * `Unrecognized key: "x"` / `Unrecognized keys: "x", "y"`; a key that is a known one in another case
 * names it: `Unrecognized key: "keyprefix" (did you mean "keyPrefix"?)`.
 */
export function unrecognized(keys: readonly string[], known: readonly string[] = []): string {
  const meant = (key: string) => {
    const match = known.find((k) => k.toLowerCase() === key.toLowerCase());
    return match ? `${show(key)} (did you mean ${show(match)}?)` : show(key);
  };
  return `Unrecognized key${keys.length > 1 ? 's' : ''}: ${keys.map(meant).join(', ')}`;
}

/** What a bound applies to: a number's value, a bigint's, or the size of a string or an array. */
export type Origin = 'number' | 'bigint' | 'int' | 'string' | 'array';
const UNITS: Partial<Record<Origin, string>> = { string: 'characters', array: 'items' };

/** `Too big: expected number to be <=10`, `Too small: expected string to have >=1 characters`… */
export function outOfBounds(
  side: 'big' | 'small',
  origin: Origin,
  bound: number | bigint,
  relation: '<=' | '>=' | '<' | '>' | 'exactly ',
): string {
  const unit = UNITS[origin];
  const what = unit ? `to have ${relation}${bound} ${unit}` : `to be ${relation}${bound}`;
  return `Too ${side}: expected ${origin} ${what}`;
}
