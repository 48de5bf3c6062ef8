import type { ResolvedConfig } from '../config.js';
import type { L2Tier } from '../l2/types.js';
import type { CircuitBreaker } from '../resilience/circuit-breaker.js';
import type { EngineCapture } from './change-capture.js';
import type { EngineContext } from './context.js';
import type { FlushLoop } from './flush-loop.js';
import type { SchemaCache } from './schema-cache.js';
import { mendStaleGenerations } from './stale-generations.js';

/** How often a host with timers retries moving on the generations whose L2 missed a committed write. */
const STALE_GENERATION_RETRY_MS = 1_000;

/**
 * Starts the timers of a host that lends a `scheduler` (none without one): the change relay's poll,
 * the L1 sweep, the missed-L2-write retry and the pull queue's flush. Resolves their stops.
 */
export function startTimers(
  ctx: EngineContext,
  config: ResolvedConfig,
  changes: EngineCapture,
  /** The registered schemas, as they are at each tick. */
  all: () => SchemaCache[],
  l2: L2Tier | undefined,
  breaker: CircuitBreaker | undefined,
  flushLoop: FlushLoop | undefined,
): (() => void)[] {
  const stops: (() => void)[] = [];
  const { scheduler, l1 } = config;
  const { flushInterval } = config.writeBehind;
  const relay = changes.relay;
  if (scheduler && relay) stops.push(scheduler.every(relay.options.intervalMs, () => changes.tick()));
  if (scheduler && l1.sweepEvery > 0) {
    stops.push(
      scheduler.every(l1.sweepEvery, () => {
        for (const rt of all()) rt.l1?.sweep();
      }),
    );
  }
  // A missed L2 write is made good (sent again, or its generation moved on) as soon as L2 answers
  // again, not at this instance's next call, which may never come: until then others may read
  // the older row.
  if (scheduler && l2)
    stops.push(
      scheduler.every(STALE_GENERATION_RETRY_MS, () => {
        if (breaker?.stats().state !== 'open') void mendStaleGenerations(ctx, all());
      }),
    );
  const loop = flushLoop;
  if (scheduler && loop) {
    stops.push(
      scheduler.every(flushInterval, () => {
        loop
          .round()
          .catch((err: unknown) => config.logger.warn('write-behind flush failed', { error: String(err) }));
      }),
    );
  }
  return stops;
}
