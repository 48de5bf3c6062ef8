/**
 * What Postgres' `inet` and `cidr` input takes (network_in over inet_net_pton.c, Postgres 15),
 * checked before a write: a write-behind `set` is acknowledged before Postgres sees the row, so a
 * value the column refuses was served from every tier until its flush dead-lettered it (22P02).
 * Exact, quirks included (`network-input.test.ts` compares it with a real Postgres): an inet IPv4
 * takes leading zeros and fewer octets with a prefix (`10.1/16`), a cidr also hex (`0x0a/8`) and a
 * classful default prefix, and a cidr refuses bits set right of its prefix.
 */

const DIGITS = /^\d+$/;

/**
 * Why Postgres would refuse `text` as an `inet` (or, with `cidr`, a `cidr`) value, or undefined.
 * @example whyNotInet('10.1.2.3/8', true); // 'cidr value has bits set right of its prefix (22P02)'
 */
export function whyNotInet(text: string, cidr: boolean): string | undefined {
  const bytes: number[] = [];
  const bits = text.includes(':') ? ipv6(text, bytes) : ipv4(text, bytes, cidr);
  if (!(bits >= 0 && bits <= bytes.length * 8)) {
    return `not an ${cidr ? 'cidr' : 'inet'} value Postgres takes (22P02)`;
  }
  // addressOK: every bit past the prefix is zero.
  return cidr && bytes.some((byte, i) => byte & (255 >> Math.min(8, Math.max(0, bits - i * 8))))
    ? 'cidr value has bits set right of its prefix (22P02)'
    : undefined;
}

/** C's `bits = bits * 10 + n` in an int, wrapping as the server does on absurd lengths. */
function int(digits: string): number {
  let n = 0;
  for (const c of digits) n = (n * 10 + Number(c)) | 0;
  return n;
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
      ? int(width)
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

/** inet_cidr_pton_ipv6 (inet and cidr alike), as its loop reads: groups, one `::`, an IPv4 tail, `/bits`. */
function ipv6(text: string, bytes: number[]): number {
  let i = 0;
  let group = 0;
  let digits = 0;
  let gap = -1; // where `::` stands, in bytes
  let bits = -1;
  if (text[0] === ':' && text[++i] !== ':') return -1;
  let token = i;
  while (i < text.length) {
    const c = text[i++]!;
    if (/[\da-f]/i.test(c)) {
      group = (group << 4) | Number.parseInt(c, 16);
      if (++digits > 4) return -1;
    } else if (c === ':') {
      token = i;
      if (digits === 0) {
        if (gap >= 0) return -1;
        gap = bytes.length;
      } else {
        if (i === text.length || bytes.length > 14) return -1;
        bytes.push(group >> 8, group & 255);
        group = digits = 0;
      }
    } else if (c === '.' && bytes.length <= 12) {
      // getv4 reads the whole token again, in decimal, to the end (its `/bits` too).
      bits = ipv4Tail(text.slice(token), bytes);
      if (bits < -1) return -1;
      digits = 0;
      break;
    } else if (c === '/') {
      bits = prefix(text.slice(i));
      if (bits < 0) return -1;
      break;
    } else return -1;
  }
  if (digits > 0) {
    if (bytes.length > 14) return -1;
    bytes.push(group >> 8, group & 255);
  }
  if (gap >= 0) {
    if (bytes.length === 16) return -1;
    bytes.splice(gap, 0, ...new Array<number>(16 - bytes.length).fill(0));
  }
  return bytes.length === 16 ? (bits < 0 ? 128 : bits) : -1;
}

/** getbits: digits without a leading zero, at most 128; -2 when refused. */
function prefix(text: string): number {
  return /^(?:0|[1-9]\d*)$/.test(text) && Number(text) <= 128 ? Number(text) : -2;
}

/** getv4: up to four decimal octets (no leading zero; an empty one is 0), then maybe `/bits`. */
function ipv4Tail(text: string, bytes: number[]): number {
  const [address = '', width, extra] = text.split('/');
  const octets = address.split('.');
  if (extra !== undefined || octets.length > 4 || (width === undefined && octets.at(-1) === '')) return -2;
  if (!octets.every((o) => /^(?:0|[1-9]\d*)?$/.test(o) && Number(o) < 256)) return -2;
  const at = bytes.length;
  bytes.push(...octets.map(Number), 0, 0, 0);
  bytes.length = at + 4;
  return width === undefined ? -1 : prefix(width);
}
