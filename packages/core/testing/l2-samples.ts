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
