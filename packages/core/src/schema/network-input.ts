/**
 * What Postgres' `inet` and `cidr` input takes (network_in over inet_net_pton.c, Postgres 15),
 * checked before a write: a write-behind `set` is acknowledged before Postgres sees the row, so a
 * value the column refuses was served from every tier until its flush dead-lettered it (22P02).
 * Exact, quirks included (`network-input.test.ts` compares it with a real Postgres): an inet IPv4
 * takes leading zeros and fewer octets with a prefix (`10.1/16`), a cidr also hex (`0x0a/8`) and a
 * classful default prefix, and a cidr refuses bits set right of its prefix.
 */

const DIGITS = /^\d+$/;
// getv4's octets (an empty one is 0) and getbits' prefix: no leading zero.
const DECIMAL = /^(?:0|[1-9]\d*)?$/;

/**
 * The SQLSTATE Postgres would refuse `text` with as an `inet` (or, with `cidr`, a `cidr`) value
 * (22P02: not one, or a cidr with bits set right of its prefix), or undefined.
 * @example whyNotInet('10.1.2.3/8', true); // '22P02'
 */
export function whyNotInet(text: string, cidr: boolean): string | undefined {
  const bytes: number[] = [];
  const bits = text.includes(':') ? ipv6(text, bytes) : ipv4(text, bytes, cidr);
  // addressOK: every bit past a cidr's prefix is zero.
  return bits >= 0 &&
    bits <= bytes.length * 8 &&
    !(cidr && bytes.some((byte, i) => byte & (255 >> Math.min(8, Math.max(0, bits - i * 8)))))
    ? undefined
    : '22P02';
}

/**
 * The text Postgres answers for an `inet` (or, with `cidr`, a `cidr`) it takes (network_out): all
 * four IPv4 octets, IPv6 in lowercase with the longest run of two or more zero groups as `::` and
 * an IPv4 tail where inet_net_ntop writes one, then `/bits` unless a whole inet address (a cidr
 * always has it). A pure function of the text, so a write-behind row is cached as its flush will store it.
 * @example inetText('10.1/16', false); // '10.1.0.0/16'
 */
export function inetText(text: string, cidr: boolean): string {
  if (whyNotInet(text, cidr) !== undefined) return text;
  const bytes: number[] = [];
  const bits = text.includes(':') ? ipv6(text, bytes) : ipv4(text, bytes, cidr);
  const address = bytes.length === 4 ? bytes.join('.') : ipv6Text(bytes);
  return cidr || bits !== bytes.length * 8 ? `${address}/${bits}` : address;
}

/**
 * inet_net_ntop_ipv6 of Postgres (src/port/inet_net_ntop.c), for 16 bytes: the first longest run of
 * two or more zero groups is `::`; `::a.b.c.d` and `::ffff:a.b.c.d` keep their IPv4 tail.
 */
function ipv6Text(bytes: readonly number[]): string {
  const words = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!);
  let [base, len] = [-1, 0];
  for (const run of words
    .map((w) => (w ? 'n' : 'z'))
    .join('')
    .matchAll(/z{2,}/g))
    if (run[0].length > len) [base, len] = [run.index, run[0].length];
  if (base === 0 && (len === 6 || (len === 5 && words[5] === 0xffff)))
    return `::${len === 5 ? 'ffff:' : ''}${bytes.slice(12).join('.')}`;
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  return base < 0 ? hex(words) : `${hex(words.slice(0, base))}::${hex(words.slice(base + len))}`;
}

/**
 * inet_net_pton_ipv4 (inet) and inet_cidr_pton_ipv4 (cidr): decimal octets (inet: one trailing dot
 * ends them; cidr: or hex, `0x0a0b`), then `/bits`, else inet needs all four octets and cidr takes
 * its address class's width, widened to the octets written (224 alone is 224/4). -1 when refused.
 */
function ipv4(text: string, bytes: number[], cidr: boolean): number {
  const [address = '', width, extra] = text.split('/');
  const hex = cidr ? /^0x([\da-f]+)$/i.exec(address) : null;
  const octets = hex
    ? hex[1]!.match(/..?/g)!.map((pair) => Number.parseInt(pair.padEnd(2, '0'), 16))
    : (cidr ? address : address.replace(/(\d)\.$/, '$1'))
        .split('.')
        .map((o) => (DIGITS.test(o) ? Number(o) : 256));
  const n = octets.length;
  const first = octets[0]!;
  if (
    extra !== undefined ||
    n > 4 ||
    octets.some((o) => o > 255) ||
    (width !== undefined && !DIGITS.test(width))
  )
    return -1;
  let bits =
    width !== undefined
      ? Number(BigInt.asIntN(32, BigInt(width))) // C's `bits = bits * 10 + n` in an int wraps
      : cidr
        ? Math.max(first >= 240 ? 32 : first >= 224 ? 8 : first >= 192 ? 24 : first >= 128 ? 16 : 8, n * 8)
        : n === 4
          ? 32
          : -1;
  if (cidr && width === undefined && bits === 8 && first === 224) bits = 4;
  if (bits > 32 || (!cidr && bits >> 3 > n)) return -1;
  bytes.push(...octets, 0, 0, 0);
  bytes.length = 4;
  return bits;
}

/**
 * inet_cidr_pton_ipv6 (inet and cidr alike), read as its loop reads: 1-4 hex digit groups, one `::`,
 * a `:` first only in `::`, an IPv4 tail after the last `:` (getv4: up to four decimal octets
 * without leading zeros, an empty one is 0, a last empty one only before `/bits`) after at most six
 * groups, `/bits` (getbits: no leading zero, at most 128). A `:` ending a group may end the
 * address, but not the text: `1:…:8:/64` is taken, `1::2:` refused.
 */
function ipv6(text: string, bytes: number[]): number {
  const [address = '', width, extra] = text.split('/');
  const at = address.lastIndexOf(':') + 1;
  const octets = address.slice(at).split('.');
  const v4 = octets.length > 1;
  const head = v4 ? address.slice(0, at) : address;
  // Nothing follows a last `:` that ends a group: a text that ends so is refused, as an empty group.
  const sides = (v4 || width ? head.replace(/([^:]):$/, '$1') : head)
    .split('::')
    .map((side) => (side ? side.split(':') : []));
  const words = sides.map((side) =>
    side.map((g) => Number.parseInt(g, 16)).flatMap((n) => [n >> 8, n & 255]),
  );
  if (v4) words.at(-1)!.push(...[...octets.map(Number), 0, 0, 0].slice(0, 4));
  const fill = 16 - words.flat().length;
  if (
    extra !== undefined ||
    sides.length > 2 ||
    (sides.length > 1 ? fill < 1 : fill !== 0) ||
    !sides.flat().every((g) => /^[\da-f]{1,4}$/i.test(g)) ||
    (v4 &&
      // At most six groups before the tail (bytes.length <= 12): the fill checks above hold it.
      (octets.length > 4 ||
        (width === undefined && octets.at(-1) === '') ||
        !octets.every((o) => DECIMAL.test(o) && Number(o) < 256)))
  )
    return -1;
  bytes.push(...words[0]!, ...new Array<number>(fill).fill(0), ...(words[1] ?? []));
  return width === undefined ? 128 : DECIMAL.test(width) && width !== '' ? Number(width) : -1;
}
