// The config's check of each seam, from the seam's type: the compiler refuses a method list that
// misses a required method of the seam (or names something else), so a method added to a seam is a
// method checked at construction — not a TypeError on first use.
import type { InvalidationBus } from '../bus/types.js';
import type { RelayPlan } from '../capture/change-relay.js';
import type { ChangeSource } from '../capture/types.js';
import type * as check from '../check/checks.js';
import type { Clock } from '../clock.js';
import type { Codec } from '../codec/types.js';
import type { Bucketing } from '../engine/bucketing.js';
import type { L2Tier } from '../l2/types.js';
import type { L3Tier } from '../l3/types.js';
import type { Logger } from '../observability/logger.js';
import type { MetricsRecorder } from '../observability/metrics.js';
import type { Tracer } from '../observability/tracing.js';
import type { WriteQueue } from '../queue/types.js';
import type { Scheduler } from '../scheduler.js';

/** The methods every implementation of `T` must have (optional ones, such as `take`, excluded). */
export type RequiredMethods<T> = {
  // biome-ignore lint/suspicious/noExplicitAny: any method signature.
  [K in keyof T]-?: undefined extends T[K] ? never : T[K] extends (...args: any[]) => unknown ? K : never;
}[keyof T] &
  string;

/**
 * `seamMethods<T>()(...)` is the list of `T`'s required methods, checked complete by the compiler.
 * @example
 * const CLOCK_METHODS = seamMethods<Clock>()('now');
 */
export function seamMethods<T>() {
  return <const M extends readonly RequiredMethods<T>[]>(
    ...methods: M & ([Exclude<RequiredMethods<T>, M[number]>] extends [never] ? unknown : never)
  ) => methods;
}

export const SEAM_METHODS = {
  l2: seamMethods<L2Tier>()('getMany', 'run', 'close'),
  // Required methods only: the optional ones (identity, walPosition, claimWriter) are looked for
  // where they are used, and an L3 without them goes without what they do (see L3Tier).
  l3: seamMethods<L3Tier>()(
    'findMany',
    'exists',
    'scan',
    'search',
    'count',
    'write',
    'nextEpoch',
    'replaceValues',
    'migrate',
    'migrationStatus',
  ),
  bus: seamMethods<InvalidationBus>()('publish', 'subscribe', 'stats', 'close'),
  changeSource: seamMethods<ChangeSource>()('start', 'read'),
  relayPlan: seamMethods<RelayPlan>()('create'),
  queue: seamMethods<WriteQueue>()('enqueue', 'ack', 'retry', 'deadLetter', 'pending', 'close'),
  codec: seamMethods<Codec>()('encode', 'decode'),
  clock: seamMethods<Clock>()('now'),
  logger: seamMethods<Logger>()('debug', 'info', 'warn', 'error'),
  metrics: seamMethods<MetricsRecorder>()('count', 'observe'),
  tracing: seamMethods<Tracer>()('operation', 'call', 'currentOperation'),
  scheduler: seamMethods<Scheduler>()('every'),
  bucketing: seamMethods<Bucketing>()(
    'check',
    'readVector',
    'byBucket',
    'writeOrdered',
    'reserveVersions',
    'peekPending',
  ),
} as const;

/** An object with each of `methods` as a function; the message names the ones missing. */
export function seamCheck<T>(methods: readonly RequiredMethods<T>[]): check.Check<T> {
  return (value, path) => {
    if (typeof value !== 'object' || value === null) {
      return { path, message: `must implement ${methods.join(', ')}` };
    }
    const missing = methods.filter((m) => typeof (value as Record<string, unknown>)[m] !== 'function');
    return missing.length === 0 ? undefined : { path, message: `must implement ${missing.join(', ')}` };
  };
}
