/**
 * Values and keys the L2 conformance suite round-trips: each is a way a string has been known to be
 * mangled on its way through a Redis client (parsed as JSON or a number, cut at NUL, re-encoded).
 */
export const TRICKY_VALUES: readonly string[] = [
  '',
  ' ',
  '42',
  '-0',
  '007',
  '3.14',
  '1e3',
  '12345678901234567890',
  'NaN',
  'Infinity',
  'true',
  'null',
  'OK',
  'T0s=',
  '"quoted"',
  '{"a":1}',
  '[1,"two",null]',
  'héllo wörld',
  '日本語のテキスト',
  '👩‍👩‍👧‍👦🚀🏳️‍🌈',
  'a\u0000b',
  '\u0000',
  '\r\n\t\\',
  'ÿþ\u0080\u00ff',
  '~tilde-first',
  '\uFEFFbom',
];

/** Strings that look like binary data: control bytes, magic numbers, every code point below 256. */
export const BINARY_LOOKING_VALUES: readonly string[] = [
  '\u0000\u0001\u0002\u0003\u00fe\u00ff',
  'PK\u0003\u0004\u0014\u0000',
  '\u0089PNG\r\n\u001a\n',
  '\u001b[31mred\u001b[0m',
  '\uFFFD\uFFFE',
  Array.from({ length: 256 }, (_, i) => String.fromCharCode(i)).join(''),
];

/**
 * Envelope payloads that contain the envelope's own separators, or a whole envelope header: a
 * reader (or a script reading the header) must take the payload as everything after the 7th `;`.
 */
export const SEPARATOR_PAYLOADS: readonly string[] = [
  '',
  ';',
  ';;;;;;;',
  '~',
  '~1;',
  '~1;r;0;999999;0;0;other;',
  '{"note":"a;b~c","list":[";",";;"]}',
  'émoji 🚀; 日本語; ~tilde',
  'a\u0000;b',
];

/** Keys with separators, spaces and non-ASCII, relative to the run's prefix. */
export const TRICKY_KEY_SUFFIXES: readonly string[] = [
  'user:42:profile',
  '名前:🔑',
  'with space:and:colons',
  '::leading:and:trailing::',
];

/** A string of exactly 1 MiB code units mixing ASCII, multi-byte characters and NUL. */
export function oneMebibyteValue(): string {
  const chunk = 'strata-L2-ñé日本🚀\u0000{"k":[1,2]}';
  const size = 1024 * 1024;
  return chunk
    .repeat(Math.ceil(size / chunk.length))
    .slice(0, size - 1)
    .concat('!');
}
