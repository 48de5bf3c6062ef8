import { isStrataError, StrataError } from '../errors.js';
import type { WriterClaim } from '../l3/types.js';
import { waitShared } from '../resilience/bounded-share.js';
import { orAfter } from '../resilience/with-timeout.js';
import type { EngineContext } from './context.js';
import { checkCountersTolerated } from './counter-marks.js';
import { seedCounter } from './ordered-writes.js';
import type { SchemaCache } from './schema-cache.js';
import { SharedClaims } from './shared-claims.js';

/** Past this age a write (or a flush round) renews the claim, and does not wait for it. */
const RENEW_MS = 20_000;
/**
 * Past this age writes wait for the claim. Postgres' lease runs 60 s from its own now, which is after
 * the claim was sent (the age counts from then): 10 s are left for the write under way.
 */
const TRUST_MS = 50_000;

/**
 * How long an instance's first write of a schema under a claim another instance shared waits for its
 * counter's check against Postgres (`checkCounters`); past it the write goes on unchecked (the check
 * still acts when it answers). A Postgres that answers in time costs the write one round trip.
 */
const CHECK_WAIT_MS = 1_000;

/**
 * One schema's claim in this instance: when the last claim that held was sent (or, for a claim
 * another instance shared, when it would have been sent for its trust to end where that one's
 * does); the one out; whether its last claim was refused (logged once until one holds again).
 */
interface Lease {
  at: number;
  out: Promise<void> | undefined;
  /** When `out` was sent (on `ctx.waits`: see `#wait`). */
  outAt: number;
  refused: boolean;
  /**
   * A write-through claim took the table from another app and could not move the app's counters
   * (L2 or L3 failed): the next write claims again, whatever the lease's age, and moves them.
   */
  owed: boolean;
}

/**
 * One app writes a table at a time where its versions come from its own Redis counter (see
 * `L3Tier.claimWriter`): write-behind versions of two apps (two key namespaces, each its counter and
 * epochs) do not compare, so the later app's would beat every later write of the earlier one. Each
 * schema with an L3 is claimed in `_strata_writers` at this instance's first write of it, before
 * anything is written; write-through apps share a claim, next to no live write-behind one. Writes
 * renew it past 20 s without waiting (at most one claim out per schema), and wait only past 50 s
 * (a write after a long pause; Postgres unreachable that long). Flush rounds renew write-behind
 * claims, so an app that only flushes keeps them. An app that takes the table from another (or has
 * not seeded since it took it) first moves every bucket's counter into a new epoch, above every
 * version written before, and says so in the claim, so no other instance of it does it again.
 *
 * Instances of one app share their claims through L2 (`SharedClaims`): an instance with no claim of
 * its own (a new Worker isolate) that finds one live there trusts it until its trust ends, so its
 * first write needs no Postgres; the generation read the write makes anyway brings it.
 */
export class WriterClaims {
  readonly #leases = new Map<SchemaCache, Lease>();
  readonly #shared: SharedClaims;

  constructor(private readonly ctx: EngineContext) {
    this.#shared = new SharedClaims(ctx, TRUST_MS);
  }

  /**
   * Undefined when the write may go at once (the usual case: no turn of the microtask queue); else
   * the claim to wait for, which rejects with INVALID_CONFIG when another app holds the table, or
   * L3_UNAVAILABLE / L2_UNAVAILABLE when the claim or the new epoch could not be made.
   */
  before(cache: SchemaCache): Promise<void> | undefined {
    const lease = this.#renew(cache);
    if (!lease?.out) return undefined;
    // A counter move owed (see `#moveCounters`): the write waits for the claim that makes it.
    if (this.ctx.config.clock.now() - lease.at < TRUST_MS && !lease.owed) return undefined;
    return this.#wait(cache, lease, lease.out);
  }

  /** The schema's lease, its claim sent when it is due for renewal and none is out (nothing waits here). */
  #renew(cache: SchemaCache): Lease | undefined {
    if (!cache.l3?.claimWriter) return undefined;
    let lease = this.#leases.get(cache);
    if (!lease) {
      lease = { at: Number.NEGATIVE_INFINITY, out: undefined, outAt: 0, refused: false, owed: false };
      this.#leases.set(cache, lease);
    }
    if (this.ctx.config.clock.now() - lease.at < RENEW_MS && !lease.owed) return lease;
    if (!lease.out) {
      const out = this.#claim(cache, lease).finally(() => {
        if (lease.out === out) lease.out = undefined;
      });
      lease.out = out;
      lease.outAt = this.ctx.waits.now();
      // Handed to the host's waitUntil too: a renewal outlives the request that started it. (A
      // waiting write gets the error itself.)
      this.ctx.track(out.catch((err: unknown) => this.#failed(cache, lease, err)));
    }
    return lease;
  }

  /**
   * The claim out, waited for at most the longest a live one takes (its generation read, then its
   * Postgres claim: an L2 and an L3 deadline each) on this write's own timer; past it, a claim of its
   * own. In a Worker the write that sent it may belong to a request that has ended: its fetch
   * cancelled never settles, and waiting for it would hold every later write of the schema.
   */
  #wait(cache: SchemaCache, lease: Lease, out: Promise<void>): Promise<void> {
    const { l2, l3 } = this.ctx.config.timeouts;
    return waitShared(
      out,
      lease.outAt,
      2 * (l2 + l3),
      async () => {
        if (lease.out === out) lease.out = undefined;
        await this.before(cache);
      },
      this.ctx.waits,
    );
  }

  /**
   * A flush round: renews the write-behind claims of `caches` (claims them when this instance has
   * none yet), by default of those this instance holds. Nothing waits for it.
   */
  keep(caches?: Iterable<SchemaCache>): void {
    const held = [...this.#leases].flatMap(([cache, lease]) =>
      lease.at > Number.NEGATIVE_INFINITY ? [cache] : [],
    );
    for (const cache of caches ?? held) if (cache.writeMode === 'write-behind') this.#renew(cache);
  }

  /**
   * A claim another instance of the app shared, when it is trusted longer than this instance's own
   * (by its first write: any live one; by a renewal: one renewed within the last 20 s, so the
   * instances renewing in Postgres stay few); else one in Postgres, shared once it holds.
   */
  async #claim(cache: SchemaCache, lease: Lease): Promise<void> {
    const clock = this.ctx.config.clock;
    const trusted = lease.at + TRUST_MS - clock.now();
    const shared = await this.#shared.find(cache);
    if (shared !== undefined && shared > (trusted > 0 ? TRUST_MS - RENEW_MS : 0)) {
      // This instance's first write of the schema: its counter is checked against Postgres' mark
      // (a Redis restored from an older snapshot brings the shared claim back too). Waited for at
      // most CHECK_WAIT_MS: an instance Postgres is slow to answer or cut off from still writes.
      if (lease.at === Number.NEGATIVE_INFINITY) {
        const check = this.#check(cache, 'check counters');
        this.ctx.track(check);
        await orAfter(check, CHECK_WAIT_MS, undefined, this.ctx.waits.timer);
      }
      lease.at = clock.now() + shared - TRUST_MS;
      lease.refused = false;
      return;
    }
    const sent = clock.now();
    // Beside the claim, Postgres' marks of the counters (and the counters) are read: a counter
    // that went back is found at every claim in Postgres, renewals included (every 20 s or so).
    const checked = this.#check(cache, 'check counters');
    // A write-through instance ordered by the app's counters whose own claim lives (none owed): no
    // other app could take the table write-behind since, and its own claims moved the counters above
    // every version written before (or found them moved): it says so (see `#moveCounters` below).
    const fresh = cache.through !== undefined && trusted > 0 && !lease.owed;
    let reseed: boolean;
    try {
      ({ reseed } = await this.#ask(cache, lease, fresh));
    } finally {
      await checked;
    }
    if (reseed && cache.writeMode === 'write-behind') {
      // Versions before this claim were another app's (or this one's in another mode): above them
      // all first. Fails as the L2 or L3 call does (guarded: a StrataError), the claim not yet seeded.
      // This app's writes still queued (its instances cut off past the lease, then back: a double
      // takeover) get come-back marks: the other app's writes superseded them unmarked, and a
      // partial set of the new epoch carried their columns over those writes' (and replaced the row
      // over a queued delete), reliability/test/probe-double-takeover.test.ts.
      for (let b = 0; b < cache.buckets.length; b++) cache.suspectCounters.add(b);
      await Promise.all(
        cache.buckets.map((bucket) => seedCounter(cache, bucket, undefined, { cameBack: true })),
      );
      await this.#ask(cache, lease, true);
    } else if (reseed && cache.through && !fresh) {
      // A write-through instance of an app that writes the table write-behind too reserves its
      // versions from the app's counters (ThroughOrder): taking the table from another app with no
      // live lease of its own, or finding its app's row not moved yet (another instance's move
      // failed: the row says so to every instance), it moves the counters the app has into a new
      // epoch. Before, it reserved in the old epoch, below the other app's writes, and its write was
      // skipped as older: lost (reliability/test/probe-double-takeover.test.ts,
      // packages/core/test/through-takeover-l2-down.test.ts). An ordered claim keeps its app's row's
      // `seeded` (the row's mode alone unseeds it no more: the app's counters order both modes'
      // writes), and a fresh one marks it: before, every cold start of the app's API after its
      // worker's renewal took an epoch per bucket (packages/core/test/mixed-mode-epochs.test.ts).
      await this.#moveCounters(cache, lease);
    } else lease.owed = false;
    lease.at = sent;
    lease.refused = false;
    // A move owed is not shared: another instance trusting this claim would reserve in the old epoch.
    if (!lease.owed) this.#shared.share(cache, sent);
  }

  /**
   * A write-through claim's move of the app's counters (see `#claim`). When it fails it is owed: the
   * next write claims again and moves them. The write waiting for the claim is refused (nothing
   * written) when this instance knows a counter its writes reserve from: reserved in the old epoch,
   * below the other app's versions, it would be skipped as older, acknowledged and lost. Else it goes
   * on (counted, logged): its versions come from Postgres, and a write-through write must commit with
   * L2 down (packages/core/test/through-takeover-l2-down.test.ts).
   */
  async #moveCounters(cache: SchemaCache, lease: Lease): Promise<void> {
    try {
      await Promise.all(
        cache.buckets.map((bucket) =>
          seedCounter(cache, bucket, undefined, { cameBack: true, present: true }),
        ),
      );
      await this.#ask(cache, lease, true);
      lease.owed = false;
    } catch (err) {
      lease.owed = true;
      const name = cache.schema.name;
      if (!cache.through?.reserves()) return this.ctx.tolerate(name, 'l2', 'counter move', err);
      this.ctx.refuse(name, 'l2', 'counter move', err);
      lease.at = Number.NEGATIVE_INFINITY; // the next write claims again, and waits for it
      throw isStrataError(err)
        ? err
        : new StrataError(
            'L2_UNAVAILABLE',
            `schema ${name}: the app's counters could not be moved into a new epoch. Nothing was written`,
            { cause: err },
          );
    }
  }

  /** `checkCounters` for a write-behind schema, its failure counted and logged: the claim goes on. */
  #check(cache: SchemaCache, op: string): Promise<void> {
    return cache.writeMode === 'write-behind'
      ? checkCountersTolerated(this.ctx, cache, op)
      : Promise.resolve();
  }

  /**
   * A claim that failed: a refusal (another app holds the table) is counted each time (`errorsBy.claim`)
   * and logged once per schema until a claim holds again; any other failure is logged (an L3 one was
   * counted by `l3Error`).
   */
  #failed(cache: SchemaCache, lease: Lease, err: unknown): void {
    const { logger } = this.ctx.config;
    const fields = { schema: cache.schema.name, error: String(err) };
    if (!isStrataError(err, 'INVALID_CONFIG')) {
      logger.warn('writer claim failed', fields);
      return;
    }
    this.ctx.counters.error('claim');
    if (lease.refused) return;
    lease.refused = true;
    logger.warn('writer claim refused (logged once until one holds)', fields);
  }

  /**
   * One claim: whether the counter must move into a new epoch (see `WriterClaim`); throws when
   * another app holds the table.
   */
  async #ask(cache: SchemaCache, lease: Lease, seeded: boolean): Promise<WriterClaim> {
    const { schema } = cache;
    const owner = cache.keys.base;
    let held: WriterClaim;
    try {
      // A write-through instance with L2 and L3 orders its writes by the app's counters (`through`,
      // ThroughOrder): its claim leaves the app's live write-behind claim as it is, so the worker
      // does not reseed (packages/core/test/mixed-mode-epochs.test.ts).
      const ordered = cache.through !== undefined;
      held = await cache.l3!.claimWriter!(schema, owner, cache.writeMode === 'write-behind', seeded, ordered);
    } catch (err) {
      throw this.ctx.l3Error(schema.name, 'claim', err);
    }
    if (held.table !== undefined) {
      lease.at = Number.NEGATIVE_INFINITY;
      throw new StrataError(
        'INVALID_CONFIG',
        `schema ${schema.name}: table ${schema.identity} is not ${held.table} (app '${held.owner}', ${held.mode}) but shares its Strata tables (versions would clash): give each its own migrationsSchema or qualify the tables (pgSchema). Nothing was written`,
        { details: { schema: schema.name, owner: held.owner, mode: held.mode, table: held.table } },
      );
    }
    if (held.owner === owner) return held;
    lease.at = Number.NEGATIVE_INFINITY;
    throw new StrataError(
      'INVALID_CONFIG',
      `schema ${schema.name}: app '${held.owner}' writes table ${schema.identity} (${held.mode}): app '${owner}' may not until that claim lapses (60 s after its last write or flush). Nothing was written`,
      { details: { schema: schema.name, owner: held.owner, mode: held.mode } },
    );
  }
}
