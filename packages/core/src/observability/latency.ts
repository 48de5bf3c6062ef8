import type { Tier } from './metrics.js';

/** Latency of one tier's remote calls: `calls` since start, percentiles over the most recent ones. */
export interface LatencySummary {
  calls: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/** How many recent calls the percentiles cover: enough for a stable p99, small enough to stay current. */
const WINDOW = 1024;

/**
 * A fixed ring of the most recent durations, so `stats()` costs the same after a billion calls and
 * shows what the tier does now rather than since the isolate started.
 */
export class LatencyWindow {
  readonly #samples = new Float64Array(WINDOW);
  #calls = 0;

  record(ms: number): void {
    this.#samples[this.#calls % WINDOW] = ms;
    this.#calls += 1;
  }

  summary(): LatencySummary {
    const n = Math.min(this.#calls, WINDOW);
    if (n === 0) return { calls: 0, p50Ms: 0, p99Ms: 0, maxMs: 0 };
    const sorted = this.#samples.slice(0, n).sort();
    const at = (p: number) => round(sorted[Math.min(n - 1, Math.floor(p * n))] ?? 0);
    return { calls: this.#calls, p50Ms: at(0.5), p99Ms: at(0.99), maxMs: round(sorted[n - 1] ?? 0) };
  }
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** Methods that are not per-request work: left out of the latency a dashboard shows. */
const UNMEASURED = new Set(['close', 'migrate', 'migrationStatus']);

/**
 * `tier` with every async method timed: `onCall(op, ms)` after each call settles, failed or not.
 * `now` is a monotonic millisecond clock (`performance.now` in every runtime core targets).
 */
export function measuredTier<T extends object>(
  tier: T,
  tierName: Tier,
  onCall: (tier: Tier, op: string, ms: number) => void,
  now: () => number = () => performance.now(),
): T {
  // One wrapper per method, made on first use: the hot path allocates no closure per call.
  const wrapped = new Map<PropertyKey, unknown>();
  return new Proxy(tier, {
    get(target, prop, receiver) {
      const value = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      let fn = wrapped.get(prop);
      if (fn === undefined) {
        fn = wrap(target, prop, value as (...args: unknown[]) => unknown);
        wrapped.set(prop, fn);
      }
      return fn;
    },
  });

  function wrap(target: T, prop: PropertyKey, method: (...args: unknown[]) => unknown) {
    // Bound to the tier itself: its methods may read private fields, which a Proxy does not have.
    if (typeof prop !== 'string' || UNMEASURED.has(prop)) return method.bind(target);
    return (...args: unknown[]) => {
      const start = now();
      const op = callName(prop, args);
      const done = () => onCall(tierName, op, now() - start);
      const result: unknown = method.apply(target, args);
      if (!(result instanceof Promise)) return result;
      return result.then(
        (v: unknown) => {
          done();
          return v;
        },
        (err: unknown) => {
          done();
          throw err;
        },
      );
    };
  }
}

/** A tier call's name: its method's, and an L2 script's own ('put', 'drop', … say more than 'run'). */
export function callName(method: string, args: readonly unknown[]): string {
  return method === 'run' ? ((args[0] as { name?: string } | undefined)?.name ?? method) : method;
}
