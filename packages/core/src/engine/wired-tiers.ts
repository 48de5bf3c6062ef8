import type { ResolvedConfig } from '../config.js';
import { StrataError } from '../errors.js';
import type { L2Tier } from '../l2/types.js';
import { type LatencyWindow, measuredTier } from '../observability/latency.js';
import { noopMetrics, type Tier } from '../observability/metrics.js';
import { type CallSite, noopTracing } from '../observability/tracing.js';
import { CircuitBreaker } from '../resilience/circuit-breaker.js';
import { guardedL2 } from '../resilience/guard-l2.js';
import { EngineContext } from './context.js';
import type { ReplicaRouter } from './replica-reads.js';
import { Counters } from './stats.js';
import { steadyClock } from './steady-clock.js';
import { timedL3 } from './timed-l3.js';
import { timedQueue } from './timed-queue.js';

/** What `wireTiers` hands the `Strata` constructor. */
export interface WiredTiers {
  /** The config the engine runs on: its tiers timed, traced, on a steady clock. */
  readonly config: ResolvedConfig;
  readonly ctx: EngineContext;
  /** L2 behind its deadline and circuit breaker; undefined without an L2. */
  readonly l2: L2Tier | undefined;
  readonly breaker: CircuitBreaker | undefined;
  readonly replicas: ReplicaRouter | undefined;
  /** The tracer's instruments; undefined when tracing is off. */
  readonly instruments: ResolvedConfig['tracing']['instruments'];
}

/**
 * The tiers of a resolved config as a `Strata` instance calls them: every remote call timed (its
 * latency window and metrics), with a deadline, in a span when tracing is on; L2 behind the circuit
 * breaker; the engine's context made over them. Throws INVALID_CONFIG for a tracer not made with
 * `withSpans`.
 */
export function wireTiers(
  resolved: ResolvedConfig,
  latency: { readonly l2: LatencyWindow; readonly l3: LatencyWindow },
): WiredTiers {
  const onCall = (tier: Tier, op: string, ms: number) => {
    latency[tier as 'l2' | 'l3'].record(ms);
    // No label object per remote call when nobody records (as ctx.hit).
    if (resolved.metrics !== noopMetrics) resolved.metrics.observe('latency', ms, { tier, op });
  };
  // Every remote call is timed (inside its deadline, so a breaker's fast failures don't count) and
  // has a deadline: L3 and queue calls here, L2 calls in guardedL2 below (which times them too).
  const rawQueue = resolved.writeBehind.queue;
  // Spans around every remote call, outermost (what the engine waited for); nothing when off.
  const { tracing } = resolved;
  const instruments = tracing === noopTracing ? undefined : tracing.instruments;
  if (tracing !== noopTracing && !instruments) {
    throw new StrataError('INVALID_CONFIG', 'config.tracing: use withSpans(tracer)', {
      details: { field: 'tracing' },
    });
  }
  const traceCalls = <T extends object>(target: T, site: CallSite): T =>
    instruments ? instruments.tier(target, site, tracing) : target;
  const { bus } = resolved.coherence;
  const l3 =
    resolved.l3 &&
    traceCalls(
      timedL3(
        measuredTier(resolved.l3, 'l3', onCall),
        resolved.timeouts.l3,
        resolved.keyPrefix,
        // Counted and logged as it is sent (the context is made below, before any call).
        (op, schema, err) => ctx.retriedRead(op, schema.name, err),
      ),
      'l3',
    );
  // Read-your-writes on read replicas (`replicas`): writes note the primary's WAL position.
  const replicas = l3 ? resolved.replicas?.(l3, resolved) : undefined;
  const config: ResolvedConfig = {
    ...resolved,
    // Timed on a clock that never goes back (a step back would stretch every TTL and interval).
    clock: steadyClock(resolved.clock),
    l3: replicas?.tracking() ?? l3,
    writeBehind: {
      ...resolved.writeBehind,
      queue:
        rawQueue &&
        traceCalls(
          timedQueue(rawQueue, resolved.timeouts.queue, () => ctx.counters.error('queue')),
          'queue',
        ),
    },
    coherence: { ...resolved.coherence, bus: bus && traceCalls(bus, 'bus') },
  };
  const ctx = new EngineContext(config, new Counters());
  const { breaker, clock, timeouts } = config;
  const given = config.l2;
  const circuit =
    given &&
    new CircuitBreaker({ failureThreshold: breaker.failureThreshold, coolDownMs: breaker.cooldown, clock });
  const l2 =
    circuit &&
    traceCalls(
      guardedL2(given, { timeoutMs: timeouts.l2, breaker: circuit }, (op, ms) => onCall('l2', op, ms)),
      'l2',
    );
  return { config, ctx, l2, breaker: circuit, replicas, instruments };
}
