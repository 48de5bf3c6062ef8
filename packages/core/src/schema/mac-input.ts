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
  const read = eight
    ? readMacaddr8(text)
    : FORMATS.map((format) => scan(text, format)).find((r) => r !== undefined);
  return read === undefined ? '22P02' : read ? undefined : '22003'; // 22003: an octet past 255
}

/**
 * sscanf(text, format "%1s") === 6: undefined when the format does not match, else whether every
 * value is 0..255 (macaddr_in checks the values of the first format that matches, and only those).
 */
function scan(text: string, format: string): boolean | undefined {
  let at = 0;
  let fits = true;
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
      fits &&= value >= 0 && value < 256;
    } else if (text[at++] !== f) return undefined;
  }
  return SPACES.test(text.slice(at)) ? fits : undefined;
}

/**
 * macaddr8_in: pairs of hex digits, each maybe followed by a separator (one kind: `:`, `-` or `.`),
 * 6 or 8 pairs, then spaces only, or one last character: its loop stops when fewer than two are left.
 * The regex takes the same path as the loop (a separator after a pair is always read).
 */
function readMacaddr8(text: string): true | undefined {
  const read = /^[\t-\r ]*((?:[\da-f]{2}[:.-]?){6}(?:(?:[\da-f]{2}[:.-]?){2})?)(?:[\t-\r ]*|.)$/is.exec(text);
  return read && new Set(read[1]!.match(/[:.-]/g)).size < 2 ? true : undefined;
}
