/**
 * String builtins called with `.call` on `String.prototype`'s own methods, for the loops that run
 * per character of every value the read path decodes (an L2 value's header, a date string, base64).
 *
 * Why not `s.charCodeAt(i)`: once any code in the process declares `class X extends String` (ioredis
 * 6 does, for RESP3 verbatim strings, so every app with the ioredis L2 has), V8 (Node 20) no longer
 * inlines a string method looked up through the string: each `s.charCodeAt(i)` becomes a full call,
 * and reading a 45-character envelope header took ~0.6 µs instead of ~0.15 µs (bench:
 * `node bench/l2-ab.mjs --parts --cpu`). `String.prototype.charCodeAt.call(s, i)` is still inlined.
 *
 * Why not the method taken once into a module constant (`const charCodeAtOf = proto.charCodeAt`, as
 * before): the bundler (esbuild, under tsup) turns a module's top-level `const` into `var`, and V8
 * (Node 20) folds a module binding into optimized code only when it is immutable. Read from a `var`,
 * the method is an unknown function, so `.call` on it is a generic call again: decoding a row with
 * a date and its header cost ~15 % more (`jsonCodec.decode` of 1,000 rows: 1,050 against 900 µs of
 * CPU, a copy of the module with `const` against one with `var`, ioredis loaded). Named through
 * `String.prototype` at the call, the method is a constant V8 knows (it deoptimizes if an app
 * replaces it, and then calls the replacement, as `s.charCodeAt(i)` would).
 */
/** `s.charCodeAt(i)`: NaN past the end. */
export function codeAt(s: string, i: number): number {
  return String.prototype.charCodeAt.call(s, i);
}

/** `s.indexOf(search, from)`. */
export function indexFrom(s: string, search: string, from: number): number {
  return String.prototype.indexOf.call(s, search, from);
}

/** `s.startsWith(search, at)`. */
export function startsAt(s: string, search: string, at: number): boolean {
  return String.prototype.startsWith.call(s, search, at);
}

/** `s.slice(from, to)`. */
export function sliceFrom(s: string, from: number, to?: number): string {
  return String.prototype.slice.call(s, from, to);
}
