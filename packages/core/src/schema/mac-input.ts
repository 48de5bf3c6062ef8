/**
 * What Postgres' `macaddr` and `macaddr8` input takes (mac.c, mac8.c of Postgres 15), checked before
 * a write: a write-behind `set` is acknowledged before Postgres sees the row, so a value the column
 * refuses was served from every tier until its flush dead-lettered it. Exact, quirks included
 * (`mac-input.test.ts` compares it with a real Postgres): macaddr is read by sscanf, whose `%x`
 * takes spaces, a sign and a `0x` before its digits.
 */

// macaddr_in's sscanf formats, in its order: `x` is `%x`, `2` is `%2x`, anything else itself.
const FORMATS = ['x:x:x:x:x:x', 'x-x-x-x-x-x', '222:222', '222-222', '22.22.22', '22-22-22', '222222'];
// What one `%x` reads: C spaces, then (at most its width of) a sign, a `0x` and hex digits.
const FIELD = /^([\t-\r ]*)([+-]?(?:0x?)?[\da-f]*)/i;
const SPACES = /^[\t-\r ]*$/;

/**
 * The SQLSTATE Postgres would refuse `text` with as a `macaddr` (or, with `eight`, a `macaddr8`), or
 * undefined.
 * @example whyNotMacaddr('08:00:2b:01:02', false); // '22P02'
 */
export function whyNotMacaddr(text: string, eight: boolean): string | undefined {
  const read = eight ? readMacaddr8(text) : readMacaddr(text);
  return read === undefined ? '22P02' : read.every((o) => o < 256) ? undefined : '22003'; // 22003: an octet past 255
}

/**
 * The text Postgres answers for a `macaddr` (or, with `eight`, a `macaddr8`) it takes: lowercase
 * octets joined by `:`; a macaddr8 written with 6 octets has FF:FE put in the middle (macaddr8_in).
 * A pure function of the text, so a write-behind row is cached as its flush will store it.
 * @example macaddrText('08-00-2B-01-02-03', false); // '08:00:2b:01:02:03'
 */
export function macaddrText(text: string, eight: boolean): string {
  const octets = eight ? readMacaddr8(text) : readMacaddr(text);
  if (octets === undefined) return text;
  if (octets.length === 6 && eight) octets.splice(3, 0, 0xff, 0xfe);
  return octets.map((o) => o.toString(16).padStart(2, '0')).join(':');
}

/** macaddr_in: the octets of the first of its formats that matches (checked for range after), or undefined. */
function readMacaddr(text: string): number[] | undefined {
  for (const format of FORMATS) {
    const octets = scan(text, format);
    if (octets) return octets;
  }
  return undefined;
}

/**
 * sscanf(text, format "%1s") === 6: undefined when the format does not match, else the values read
 * (each a C int: one past 255 is refused by macaddr_in, which checks only the first format that matches).
 */
function scan(text: string, format: string): number[] | undefined {
  let at = 0;
  const values: number[] = [];
  for (const f of format) {
    if (f === 'x' || f === '2') {
      const [, spaces = '', whole = ''] = FIELD.exec(text.slice(at))!;
      const field = f === '2' ? whole.slice(0, 2) : whole;
      if (!/[\da-f]/i.test(field)) return undefined; // nothing read, or a sign alone
      at += spaces.length + field.length;
      // strtoul, then the int the value is stored in: 2^32 wraps, past 64 bits it saturates (-1).
      const digits = field.replace(/^[+-]?(0x)?0*/i, '');
      let value = digits.length > 16 ? -1 : Number.parseInt(digits.slice(-8) || '0', 16);
      if (field[0] === '-' && value > 0) value = 2 ** 32 - value;
      values.push(value < 0 ? 256 : value);
    } else if (text[at++] !== f) return undefined;
  }
  return SPACES.test(text.slice(at)) ? values : undefined;
}

/**
 * macaddr8_in: pairs of hex digits, each maybe followed by a separator (one kind: `:`, `-` or `.`),
 * 6 or 8 pairs, then spaces only, or one last character: its loop stops when fewer than two are left.
 * The regex takes the same path as the loop (a separator after a pair is always read).
 */
function readMacaddr8(text: string): number[] | undefined {
  const read = /^[\t-\r ]*((?:[\da-f]{2}[:.-]?){6}(?:(?:[\da-f]{2}[:.-]?){2})?)(?:[\t-\r ]*|.)$/is.exec(text);
  if (!read || new Set(read[1]!.match(/[:.-]/g)).size >= 2) return undefined;
  return read[1]!.match(/[\da-f]{2}/gi)!.map((pair) => Number.parseInt(pair, 16));
}
