/**
 * String methods taken from `String.prototype` once and called with `.call`, for the loops that run
 * per character of every value the read path decodes (an L2 value's header, a date string, base64)
 * (`isWellFormed` in schema/text-limits.ts is taken the same way).
 *
 * Why not `s.charCodeAt(i)`: once any code in the process declares `class X extends String` (ioredis
 * 6 does, for RESP3 verbatim strings, so every app with the ioredis L2 has), V8 (Node 20) no longer
 * inlines a string method looked up through `String.prototype`: each `s.charCodeAt(i)` becomes a
 * full call, and reading a 45-character envelope header took ~0.6 µs instead of ~0.15 µs (bench:
 * `node bench/l2-ab.mjs --parts --cpu`). A builtin held in a constant and called with `.call` is
 * still inlined whatever the prototype went through.
 */
const proto = String.prototype;
const charCodeAtOf = proto.charCodeAt;
const indexOfOf = proto.indexOf;
const startsWithOf = proto.startsWith;
const sliceOf = proto.slice;

/** `s.charCodeAt(i)`: NaN past the end. */
export function codeAt(s: string, i: number): number {
  return charCodeAtOf.call(s, i);
}

/** `s.indexOf(search, from)`. */
export function indexFrom(s: string, search: string, from: number): number {
  return indexOfOf.call(s, search, from);
}

/** `s.startsWith(search, at)`. */
export function startsAt(s: string, search: string, at: number): boolean {
  return startsWithOf.call(s, search, at);
}

/** `s.slice(from, to)`. */
export function sliceFrom(s: string, from: number, to?: number): string {
  return sliceOf.call(s, from, to);
}
