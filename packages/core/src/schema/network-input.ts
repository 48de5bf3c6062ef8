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
  const bits = text.includes(':') ? ipv6(text, bytes) : cidr ? cidr4(text, bytes) : inet4(text, bytes);
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

/** inet_net_pton_ipv4: decimal octets, then `/bits` or all four octets. -1 when refused. */
function inet4(text: string, bytes: number[]): number {
  const [address = '', width, extra] = text.split('/');
  const octets = address.split('.');
  // One trailing dot is read as the end of the octets ('1.2.3.4.' is 1.2.3.4).
  if (octets.length > 1 && octets.at(-1) === '') octets.pop();
  if (extra !== undefined || octets.length > 4 || !octets.every((o) => DIGITS.test(o) && Number(o) < 256))
    return -1;
  if (width !== undefined && !DIGITS.test(width)) return -1;
  const bits = width === undefined ? (octets.length === 4 ? 32 : -1) : int(width);
  if (bits > 32 || bits >> 3 > octets.length) return -1;
  bytes.push(...octets.map(Number), 0, 0, 0);
  bytes.length = 4;
  return bits;
}

/** inet_cidr_pton_ipv4: hex (`0x0a0b`) or decimal octets, then `/bits` or a classful width. */
function cidr4(text: string, bytes: number[]): number {
  const [address = '', width, extra] = text.split('/');
  const hex = /^0x([\da-f]+)$/i.exec(address);
  if (hex) {
    for (let i = 0; i < hex[1]!.length; i += 2)
      bytes.push(Number.parseInt(hex[1]!.slice(i, i + 2).padEnd(2, '0'), 16));
  } else {
    const octets = address.split('.');
    if (!octets.every((o) => DIGITS.test(o) && Number(o) < 256)) return -1;
    bytes.push(...octets.map(Number));
  }
  if (extra !== undefined || bytes.length > 4 || (width !== undefined && !DIGITS.test(width))) return -1;
  const first = bytes[0]!;
  // Without a width: the address class's, widened to the octets written (224 alone is 224/4).
  const classful = first >= 240 ? 32 : first >= 224 ? 8 : first >= 192 ? 24 : first >= 128 ? 16 : 8;
  let bits = width === undefined ? Math.max(classful, bytes.length * 8) : int(width);
  if (width === undefined && bits === 8 && first === 224) bits = 4;
  bytes.push(0, 0, 0, 0);
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
