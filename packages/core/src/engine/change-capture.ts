import type { ChangeRelay, PollOutcome } from '../capture/relay.js';
import type { RelayStatsSnapshot } from '../capture/relay-stats.js';
import type { L2Tier } from '../l2/types.js';
import type { CaptureCheck } from '../l3/capture.js';
import type { L3Tier } from '../l3/types.js';
import { invalidateSchema } from './cache-control.js';
import { ChangeCounters, type ChangeTarget } from './change-target.js';
import type { Coherence } from './coherence.js';
import type { EngineContext } from './context.js';
import type { SchemaCache } from './schema-cache.js';

/**
 * Change capture as `strata.stats().capture` shows it.
 * @example const { changesApplied, relay } = strata.stats().capture;
 */
export interface CaptureStats {
  /** Captured changes applied (`applyChanges` of `@strata/core/admin`, the relay). */
  changesApplied: number;
  /** Keys whose cached copies were superseded by them. */
  idsInvalidated: number;
  /** Changes of tables no registered schema has (another app on the same database): skipped. */
  unknownSchemasSkipped: number;
  /** The relay in this instance; `null` when `capture.relay` is off. */
  relay: RelayStatsSnapshot | null;
  /**
   * Schemas whose capture this instance's relay found incomplete (`strata capture install` not run,
   * or triggers dropped since): writes made outside Strata to them reach no cache. Checked with the
   * instance's first poll when the relay reads the L3's own log, again with every poll while some
   * are missing (an install from another process clears it), and after `strata.capture.install()`
   * or `remove()` on this instance.
   */
  notInstalled: string[];
}

/**
 * The engine's side of change capture: what applying changes works on (the relay's, or a caller's
 * own CDC through `applyChanges`), and the relay, when configured, run from calls (never awaited by
 * them) and the host's scheduler. The applier itself comes with the relay or with
 * `@strata/core/admin`, not with the engine: a Worker that uses neither does not bundle it.
 */
export class EngineCapture implements ChangeTarget {
  readonly counters = new ChangeCounters();
  readonly relay: ChangeRelay | undefined;
  #lastPoll = Number.NEGATIVE_INFINITY;

  constructor(
    readonly ctx: EngineContext,
    readonly coherence: Coherence,
    readonly lookup: (identity: string) => SchemaCache | undefined,
    readonly all: () => SchemaCache[],
    l2: L2Tier | undefined,
    l3: L3Tier | undefined,
    check?: () => Promise<CaptureCheck[]>,
  ) {
    const { capture, timeouts, keyPrefix, buckets, instanceId, clock, logger } = ctx.config;
    if (!capture.relay) return;
    // The relay refuses (INVALID_CONFIG) without a source or an L2, and checks the install itself.
    this.relay = capture.relay.create({
      source: capture.source ?? l3?.capture?.source(),
      l2,
      root: keyPrefix,
      buckets,
      instanceId,
      // A read (the L3 deadline) and its apply (a few L2 calls) fit in it.
      leaseMs: timeouts.l3 + 3 * timeouts.l2,
      readTimeoutMs: timeouts.l3,
      clock,
      waits: ctx.waits,
      logger,
      target: this,
      dropAll: () => this.#dropAll(),
      countError: () => ctx.counters.error('capture'),
      checkInstalled: !capture.source && l3?.capture ? check : undefined,
      track: (work) => ctx.track(work),
    });
  }

  /**
   * Called on every call: when the relay's interval has passed since this instance last tried, a
   * poll starts in the background (handed to `background`: the host's waitUntil, or tracked). A
   * clock read otherwise: this runs on L1 hits.
   */
  tick(): void {
    const relay = this.relay;
    if (!relay) return;
    const now = this.ctx.config.clock.now();
    if (now - this.#lastPoll < relay.options.intervalMs) return;
    this.#lastPoll = now;
    relay.install?.once();
    this.ctx.track(relay.poll());
  }

  /** One poll now (the interval skipped, the lease honoured); undefined without a relay. */
  async relayNow(): Promise<PollOutcome | undefined> {
    this.#lastPoll = this.ctx.config.clock.now();
    this.relay?.install?.once();
    const pass = this.relay?.poll(true);
    // Tracked, so close() waits for it before releasing L2: a pass cut off there (e.g. one a LISTEN
    // wake-up started just before a shutdown) would leave the lease held until it expires and its
    // changes to be read again by whoever comes next.
    if (pass) this.ctx.track(pass);
    return pass;
  }

  /** Checks the install now (after this instance installed or removed it, say). Never rejects. */
  async recheck(): Promise<void> {
    await this.relay?.install?.recheck();
  }

  stats(): CaptureStats {
    const c = this.counters;
    return {
      changesApplied: c.changesApplied,
      idsInvalidated: c.idsInvalidated,
      unknownSchemasSkipped: c.unknownSchemasSkipped,
      relay: this.relay ? this.relay.stats.snapshot(this.ctx.config.clock.now()) : null,
      notInstalled: [...(this.relay?.install?.notInstalled ?? [])],
    };
  }

  /** A gap: what changed is unknown, so every schema Postgres backs loses its cached rows, everywhere. */
  async #dropAll(): Promise<void> {
    await Promise.all(
      this.all()
        .filter((cache) => cache.l3)
        .map((cache) => invalidateSchema(cache, this.coherence)),
    );
  }
}
