import type { LatencyWindow } from '../observability/latency.js';
import type { CircuitBreaker } from '../resilience/circuit-breaker.js';
import type { EngineCapture } from './change-capture.js';
import type { Coherence } from './coherence.js';
import type { EngineContext } from './context.js';
import type { SchemaCache } from './schema-cache.js';
import type { StrataStats } from './stats.js';
import type { Writer } from './writer.js';

/** The snapshot `strata.stats()` resolves: the counters copied, and each part's own figures. */
export function statsSnapshot(
  ctx: EngineContext,
  schemas: readonly SchemaCache[],
  writer: Writer,
  coherence: Coherence,
  breaker: CircuitBreaker | undefined,
  latency: { readonly l2: LatencyWindow; readonly l3: LatencyWindow },
  changes: EngineCapture,
): StrataStats {
  const c = ctx.counters;
  return {
    gets: c.gets,
    sets: c.sets,
    deletes: c.deletes,
    errors: c.errors,
    rejected: c.rejected,
    l1Entries: schemas.reduce((n, rt) => n + (rt.l1?.size ?? 0), 0),
    dirtyCount: writer.dirty,
    flushed: c.flushed,
    retried: c.retried,
    deadLettered: c.deadLettered,
    conditionalDropped: c.conditionalDropped,
    invalidationsApplied: coherence.applied,
    busGaps: coherence.gaps,
    hits: { ...c.hits },
    misses: { ...c.misses },
    negativeHits: c.negativeHits,
    l3Reads: c.l3Reads,
    l3ReadRetries: c.l3ReadRetries,
    fencedFills: c.fencedFills,
    staleHits: c.staleHits,
    graceHits: c.graceHits,
    refreshes: c.refreshes,
    refreshesLeased: c.refreshesLeased,
    tagInvalidations: c.tagInvalidations,
    errorsBy: { ...c.errorsBy },
    l2Breaker: breaker ? breaker.stats() : null,
    latency: { l2: latency.l2.summary(), l3: latency.l3.summary() },
    capture: changes.stats(),
  };
}
