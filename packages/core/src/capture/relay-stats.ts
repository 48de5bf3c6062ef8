/**
 * The change relay as `strata.stats().capture.relay` shows it.
 * @example const { lagMs, gaps } = strata.stats().capture.relay ?? {};
 */
export interface RelayStatsSnapshot {
  /** Polls this instance made (most find the lease taken or nothing due). */
  polls: number;
  /** Changes this instance read and applied. */
  changes: number;
  /** Gaps (a pruned log, or no cursor yet) that dropped every cached row. */
  gaps: number;
  /** Polls that failed (counted in `errors` too), and reads whose lease ran out before the cursor was stored. */
  errors: number;
  leaseLost: number;
  /** Prunes of the change log this instance ran (entries older than the retention). */
  prunes: number;
  /** When this instance last applied a read (ms since the epoch; 0 = never). */
  lastAppliedAt: number;
  /**
   * How long ago the app's cursor last moved, as this instance last saw it (whichever instance
   * moved it): how far behind Postgres the caches may be, beyond the interval. -1 = never seen.
   */
  lagMs: number;
}

/** The mutable counters behind a `RelayStatsSnapshot`. */
export class RelayStats {
  polls = 0;
  changes = 0;
  gaps = 0;
  errors = 0;
  leaseLost = 0;
  prunes = 0;
  lastAppliedAt = 0;
  /** When the app's cursor last moved, the latest this instance saw (0 = never). */
  cursorMovedAt = 0;

  seen(movedAt: number): void {
    if (movedAt > this.cursorMovedAt) this.cursorMovedAt = movedAt;
  }

  snapshot(now: number): RelayStatsSnapshot {
    return {
      polls: this.polls,
      changes: this.changes,
      gaps: this.gaps,
      errors: this.errors,
      leaseLost: this.leaseLost,
      prunes: this.prunes,
      lastAppliedAt: this.lastAppliedAt,
      lagMs: this.cursorMovedAt === 0 ? -1 : Math.max(0, now - this.cursorMovedAt),
    };
  }
}
