import type { LatencySummary } from '../observability/latency.js';
import type { Tier } from '../observability/metrics.js';
import type { CaptureStats } from './change-capture.js';

/**
 * A snapshot of `strata.stats()`: the Go library Strata's Stats plus hits and misses per tier.
 * @example
 * const stats: StrataStats = strata.stats();
 * console.log(stats.gets, stats.hits.l1, stats.errors, stats.l2Breaker?.state);
 */
export interface StrataStats {
  gets: number;
  sets: number;
  deletes: number;
  /** Failures of a tier, the bus, a hook or the queue: what an operator has to look at. */
  errors: number;
  /**
   * Calls Postgres refused for the caller's input (SQLSTATE class 22 data, 23 constraint, 54 limit:
   * a taken unique value, say), answered with VALIDATION_FAILED, INVALID_QUERY or
   * MISSING_PRIMARY_KEY. The caller's to fix, so not in `errors`.
   */
  rejected: number;
  l1Entries: number;
  /** Write-behind writes this instance enqueued that its own flusher has not applied (0 with a push queue: see `queueDepth()`). */
  dirtyCount: number;
  hits: Record<Tier, number>;
  misses: Record<Tier, number>;
  /** Gets answered from a cached "not found" marker. */
  negativeHits: number;
  /** L3 queries made for reads (coalesced misses count once). */
  l3Reads: number;
  /**
   * L3 reads sent a second time because their connection was lost (a cut, a reset, a pool client
   * that ended): each is also logged. Not in `errors` unless the second try failed too.
   */
  l3ReadRetries: number;
  /** Cache fills skipped because a write raced the read. */
  fencedFills: number;
  /** Reads answered with a row past its fresh time (`stale`), and with a graced row while the source failed (`grace`). */
  staleHits: number;
  graceHits: number;
  /** Background refreshes of stale rows this instance started, and those it left to another instance's lease. */
  refreshes: number;
  refreshesLeased: number;
  /** Tags this instance invalidated (`invalidateTags`), each dropping every cached list with it. */
  tagInvalidations: number;
  /** Write-behind: writes this instance's flusher applied, retried and gave up on (dead-lettered). */
  flushed: number;
  retried: number;
  deadLettered: number;
  /**
   * Write-behind writes of unknown outcome (their L2 script's reply did not come) queued conditionally
   * and dropped at their flush (or by their instance, the queue refusing them): their script never
   * wrote, or a newer write replaced it (see `QueuedWrite.conditional`).
   */
  conditionalDropped: number;
  /** Invalidations applied from other instances, and gaps (whole-L1 clears). */
  invalidationsApplied: number;
  busGaps: number;
  /** Errors per source, e.g. `l2`, `l3`, `hook`, `codec`. */
  errorsBy: Record<string, number>;
  l2Breaker: { state: 'closed' | 'open' | 'half-open'; opens: number; rejected: number } | null;
  /** Time per remote call to L2 and L3 (successful or failed), percentiles over the latest 1,024. */
  latency: { l2: LatencySummary; l3: LatencySummary };
  /** Change capture: changes applied (`applyChanges`, the relay), and the relay's state. */
  capture: CaptureStats;
}

/** The mutable counters behind `stats()`. */
export class Counters {
  gets = 0;
  sets = 0;
  deletes = 0;
  errors = 0;
  rejected = 0;
  negativeHits = 0;
  /** Write-behind: enqueued by this instance, applied to L3 by its flusher, retried, given up. */
  enqueued = 0;
  flushed = 0;
  retried = 0;
  deadLettered = 0;
  conditionalDropped = 0;
  l3Reads = 0;
  l3ReadRetries = 0;
  fencedFills = 0;
  staleHits = 0;
  graceHits = 0;
  refreshes = 0;
  refreshesLeased = 0;
  tagInvalidations = 0;
  readonly hits: Record<Tier, number> = { l1: 0, l2: 0, l3: 0 };
  readonly misses: Record<Tier, number> = { l1: 0, l2: 0, l3: 0 };
  readonly errorsBy: Record<string, number> = {};

  error(source: string): void {
    this.errors += 1;
    this.errorsBy[source] = (this.errorsBy[source] ?? 0) + 1;
  }
}
