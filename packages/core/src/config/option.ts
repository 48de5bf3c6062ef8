// One config option, defined once: its check, its default and what the engine gets. The config's
// input type, resolved type and defaults are all derived from a shape of these (see ../config.ts),
// so adding an option is one edit the compiler completes. Types only beyond a few small functions:
// the Workers bundle budget has no room for a schema library.
import * as check from '../check/checks.js';
import { type Duration, toMs } from '../duration.js';
import type { EvictionPolicy } from '../l1/types.js';
import type { WriteMode } from '../schema/types.js';

/** The write modes a config's default or a schema may name. */
export const writeModeCheck = check.oneOf<WriteMode>([
  'write-through',
  'write-through-l1-async',
  'write-behind',
]);
/** The L1 eviction policies a config's default or a schema may name. */
export const evictionCheck = check.oneOf<EvictionPolicy>(['sieve', 'lru', 'lfu', 'fifo']);

declare const types: unique symbol;

/**
 * One option: `In` is what a config may hold, `Out` what the engine gets, `D` the default (in
 * input form; `undefined` when there is none).
 */
export interface Option<In, Out, D> {
  readonly check: check.Check;
  readonly fallback: D;
  /** The engine's value from the input's (or the default), already checked; `path` names it. */
  readonly resolve: (value: In | undefined, path: string) => Out;
  readonly [types]?: (value: In) => [Out, D];
}
// biome-ignore lint/suspicious/noExplicitAny: any option, whatever its types (variance of `resolve`).
export type AnyOption = Option<any, any, any>;

/** Options set together, as one object (`ttl: { l1, l2 }`). */
export interface Group<S extends Shape> {
  readonly shape: S;
}
// biome-ignore lint/suspicious/noExplicitAny: any group (see AnyOption).
export type Shape = { readonly [key: string]: AnyOption | Group<any> };

/** The config as written: every option optional. Homomorphic, so each option's doc comment shows on hover. */
export type InputOf<S extends Shape> = {
  [K in keyof S]?: S[K] extends Group<infer G>
    ? InputOf<G>
    : S[K] extends Option<infer In, unknown, unknown>
      ? In
      : never;
};
/** The config as the engine reads it: every option present, defaults filled, durations in ms. */
export type ResolvedOf<S extends Shape> = {
  readonly [K in keyof S]-?: S[K] extends Group<infer G>
    ? ResolvedOf<G>
    : S[K] extends Option<never, infer Out, unknown>
      ? Out
      : never;
};
type HasDefault<N> =
  N extends Group<Shape>
    ? true
    : N extends Option<never, unknown, infer D>
      ? undefined extends D
        ? false
        : true
      : false;
/** The defaults, in input form: the options that have one. */
export type DefaultsOf<S extends Shape> = {
  readonly [K in keyof S as HasDefault<S[K]> extends true ? K : never]: S[K] extends Group<infer G>
    ? DefaultsOf<G>
    : S[K] extends Option<never, unknown, infer D>
      ? D
      : never;
};

const same = <T>(value: T): T => value;

/** An option without a default: absent stays `undefined`. */
export const optional = <T>(accepts: check.Check<T>): Option<T, T | undefined, undefined> => ({
  check: accepts,
  fallback: undefined,
  resolve: same,
});

/** An option with a default. */
export const defaulted = <T>(accepts: check.Check<T>, fallback: NoInfer<T>): Option<T, T, T> => ({
  check: accepts,
  fallback,
  resolve: (value) => value as T,
});

/** An option whose engine value is computed from the input (or from its absence). */
export const computed = <T, Out>(
  accepts: check.Check<T>,
  resolve: (value: T | undefined, path: string) => Out,
): Option<T, Out, undefined> => ({ check: accepts, fallback: undefined, resolve });

const numberOrString = check.anyOf(check.number(), check.string());
/** A `Duration` (ms or '30s'): checked by parsing it, as toMs will. */
export const durationCheck: check.Check<Duration> = (value, path) => {
  const type = numberOrString(value, path);
  if (type) return type;
  try {
    toMs(value as Duration, path.join('.'));
    return undefined;
  } catch (err) {
    // Whoever reports the issue says `strata: ` and the option's name (`config.ttl.l1: …`).
    return { path, message: (err as Error).message.replace('strata: ', '') };
  }
};

/** A duration with a default; the engine gets milliseconds. */
export const duration = (fallback: Duration): Option<Duration, number, Duration> => ({
  check: durationCheck,
  fallback,
  resolve: (value, path) => toMs(value ?? fallback, path),
});

export const group = <S extends Shape>(shape: S): Group<S> => ({ shape });

const isOption = (node: Shape[string]): node is AnyOption => 'check' in node;

/** The check of a whole shape: unknown keys refused, every option optional. */
export function shapeCheck(shape: Shape): check.Check {
  const fields: Record<string, check.Check> = {};
  for (const [key, node] of Object.entries(shape)) {
    fields[key] = check.optional(isOption(node) ? node.check : shapeCheck(node.shape));
  }
  return check.strictObject(fields);
}

/** The engine's config from a checked input: defaults filled, values resolved. */
export function resolveShape<S extends Shape>(
  shape: S,
  input: InputOf<S> | undefined,
  at = '',
): ResolvedOf<S> {
  const out: Record<string, unknown> = {};
  const given = (input ?? {}) as Record<string, unknown>;
  for (const [key, node] of Object.entries(shape)) {
    const path = at + key;
    out[key] = isOption(node)
      ? node.resolve(given[key] ?? node.fallback, path)
      : resolveShape(node.shape, given[key] as InputOf<Shape>, `${path}.`);
  }
  return out as ResolvedOf<S>;
}

/** The defaults of a shape, frozen (the groups too; seam objects such as the JSON codec are shared as they are). */
export function defaultsOf<S extends Shape>(shape: S): DefaultsOf<S> {
  const out: Record<string, unknown> = {};
  for (const [key, node] of Object.entries(shape)) {
    if (!isOption(node)) out[key] = defaultsOf(node.shape);
    else if (node.fallback !== undefined) out[key] = node.fallback;
  }
  return Object.freeze(out) as DefaultsOf<S>;
}
