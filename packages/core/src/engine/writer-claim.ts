import { StrataError } from '../errors.js';
import type { WriterClaim } from '../l3/types.js';
import type { EngineContext } from './context.js';
import { seedCounter } from './ordered-writes.js';
import type { SchemaCache } from './schema-cache.js';

/** Past this age a write (or a flush round) renews the claim, and does not wait for it. */
const RENEW_MS = 20_000;
/**
 * Past this age writes wait for the claim. Postgres' lease runs 60 s from its own now, which is after
 * the claim was sent (the age counts from then): 10 s are left for the write under way.
 */
const TRUST_MS = 50_000;

/** One schema's claim in this instance: when the last claim that held was sent; the one out. */
interface Lease {
  at: number;
  out: Promise<void> | undefined;
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
 */
export class WriterClaims {
  readonly #leases = new Map<SchemaCache, Lease>();

  constructor(private readonly ctx: EngineContext) {}

  /**
   * Undefined when the write may go at once (the usual case: no turn of the microtask queue); else
   * the claim to wait for, which rejects with INVALID_CONFIG when another app holds the table, or
   * L3_UNAVAILABLE / L2_UNAVAILABLE when the claim or the new epoch could not be made.
   */
  before(cache: SchemaCache): Promise<void> | undefined {
    if (!cache.l3?.claimWriter) return undefined;
    let lease = this.#leases.get(cache);
    if (!lease) {
      lease = { at: Number.NEGATIVE_INFINITY, out: undefined };
      this.#leases.set(cache, lease);
    }
    const age = this.ctx.config.clock.now() - lease.at;
    if (age < RENEW_MS) return undefined;
    if (!lease.out) {
      const out = this.#claim(cache, lease).finally(() => {
        lease.out = undefined;
      });
      lease.out = out;
      // Handed to the host's waitUntil too: a renewal outlives the request that started it. (An L3
      // failure was counted and logged by `l3Error`; a waiting write gets the error itself.)
      this.ctx.track(
        out.catch((err: unknown) =>
          this.ctx.config.logger.warn('writer claim failed', {
            schema: cache.schema.name,
            error: String(err),
          }),
        ),
      );
    }
    return age < TRUST_MS ? undefined : lease.out;
  }

  /**
   * A flush round: renews the write-behind claims of `caches` (claims them when this instance has
   * none yet), by default of those this instance holds. Nothing waits for it.
   */
  keep(caches?: Iterable<SchemaCache>): void {
    const held = [...this.#leases].flatMap(([cache, lease]) =>
      lease.at > Number.NEGATIVE_INFINITY ? [cache] : [],
    );
    for (const cache of caches ?? held) if (cache.writeMode === 'write-behind') void this.before(cache);
  }

  async #claim(cache: SchemaCache, lease: Lease): Promise<void> {
    const sent = this.ctx.config.clock.now();
    if ((await this.#ask(cache, lease, false)) && cache.writeMode === 'write-behind') {
      // Versions before this claim were another app's (or this one's in another mode): above them
      // all first. Fails as the L2 or L3 call does (guarded: a StrataError), the claim not yet seeded.
      for (let b = 0; b < cache.buckets.length; b++) cache.suspectCounters.add(b);
      await Promise.all(cache.buckets.map((bucket) => seedCounter(cache, bucket, undefined)));
      await this.#ask(cache, lease, true);
    }
    lease.at = sent;
  }

  /** One claim: whether the counter must move into a new epoch; throws when another app holds the table. */
  async #ask(cache: SchemaCache, lease: Lease, seeded: boolean): Promise<boolean> {
    const { schema } = cache;
    const owner = cache.keys.base;
    let held: WriterClaim;
    try {
      held = await cache.l3!.claimWriter!(schema, owner, cache.writeMode === 'write-behind', seeded);
    } catch (err) {
      throw this.ctx.l3Error(schema.name, 'claim', err);
    }
    if (held.owner === owner) return held.reseed;
    lease.at = Number.NEGATIVE_INFINITY;
    throw new StrataError(
      'INVALID_CONFIG',
      `schema ${schema.name}: app '${held.owner}' writes table ${schema.identity} (${held.mode}): app '${owner}' may not until that claim lapses (60 s after its last write or flush). Nothing was written`,
      { details: { schema: schema.name, owner: held.owner, mode: held.mode } },
    );
  }
}
