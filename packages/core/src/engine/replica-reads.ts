import type { ResolvedConfig } from '../config.js';
import type { L3Tier } from '../l3/types.js';
import { waitShared } from '../resilience/bounded-share.js';
import { CircuitBreaker } from '../resilience/circuit-breaker.js';
import type { Waits } from '../resilience/wait.js';
import { withTimeout } from '../resilience/with-timeout.js';
import type { CompiledSchema } from '../schema/types.js';
import type { EngineContext } from './context.js';
import { timedL3 } from './timed-l3.js';

/** What this instance knows of one replica: how far it has replayed, and whether it answers. */
interface Replica {
  /** The replica as given (its walPosition), and with timeouts (its reads). */
  readonly raw: L3Tier;
  readonly tier: L3Tier;
  replayed: number;
  /** The position read in flight (sent `at`, on `ctx.waits`), shared by the reads that need a newer one meanwhile. */
  check?: { readonly read: Promise<number>; readonly at: number } | undefined;
  readonly breaker: CircuitBreaker;
}

const replicated = (schema: CompiledSchema) => !!(schema.l3 || undefined)?.readReplica;

/** What `readYourWrites` gives one Strata instance over its primary (see `StrataConfig.replicas`). */
export interface ReplicaRouter {
  /** The primary, its writes noting their WAL position when they touch a replicated schema. */
  tracking(): L3Tier;
  /** The reader of a schema with this `readReplica`: search, count and findMany routed. */
  reader(ctx: EngineContext, replica: L3Tier): L3Tier;
}

/** `StrataConfig.replicas`: builds an instance's `ReplicaRouter` (`readYourWrites`). */
export type ReplicaRouting = (primary: L3Tier, config: ResolvedConfig) => ReplicaRouter;

/**
 * Read-your-writes on read replicas, by WAL position (versions, not clocks): after a write of a
 * schema with a `readReplica` commits, this instance reads the primary's position (at or past the
 * commit); a read routed to a replica goes there only when the replica has replayed that far (its
 * last known replay position, read again, once for all reads waiting, only when the last write is
 * newer), else to the primary. Another instance's writes are not waited for: its reads of the
 * replica lag as the replica does. A replica that fails a read sends that read to the primary, and
 * after `breaker.failureThreshold` failures all reads for `breaker.cooldown`. See docs/semantics.md.
 */
class ReplicaReads implements ReplicaRouter {
  /** At or past the commit of every replicated write of this instance that returned. */
  #written = 0;
  /** Position reads after a write that failed since the last good one: the next read asks the primary. */
  #lost = 0;
  readonly #replicas = new Map<L3Tier, Replica>();

  constructor(
    readonly primary: L3Tier,
    readonly config: ResolvedConfig,
  ) {}

  /** `tier.walPosition()` (of a tier as given: the engine's wrappers do not pass it on), timed. */
  #position(tier: L3Tier): Promise<number> {
    return withTimeout(tier.walPosition!(), this.config.timeouts.l3, `L3 walPosition (${tier.name})`);
  }

  /** The primary as given: where its position is read. */
  get #source(): L3Tier {
    return this.config.l3!;
  }

  /** The primary with writes that note their position when they touch a replicated schema. */
  tracking(): L3Tier {
    const l3 = this.primary;
    return {
      ...l3,
      write: async (ops) => {
        const outcomes = await l3.write(ops);
        if (this.#source.walPosition && ops.some((op) => replicated(op.schema))) {
          // Committed whatever happens here: a failed position read never fails the write.
          try {
            this.#written = Math.max(this.#written, await this.#position(this.#source));
          } catch {
            this.#lost += 1;
          }
        }
        return outcomes;
      },
    };
  }

  /** A reader whose search, count and findMany go to `replica` when it shows this instance's writes. */
  reader(ctx: EngineContext, tier: L3Tier): L3Tier {
    const { timeouts, breaker, clock } = this.config;
    let replica = this.#replicas.get(tier);
    if (!replica) {
      const options = { failureThreshold: breaker.failureThreshold, coolDownMs: breaker.cooldown, clock };
      replica = {
        raw: tier,
        tier: timedL3(tier, timeouts.l3),
        replayed: 0,
        breaker: new CircuitBreaker(options),
      };
      this.#replicas.set(tier, replica);
    }
    const r = replica;
    const read = async <T>(schema: CompiledSchema, op: string, run: (l3: L3Tier) => Promise<T>) => {
      if (!r.breaker.tryAcquire()) return run(this.primary);
      let result: T;
      try {
        if (!(await this.#caughtUp(r, ctx.waits))) {
          r.breaker.release();
          return run(this.primary);
        }
        result = await run(r.tier);
      } catch (err) {
        r.breaker.recordFailure();
        ctx.tolerate(schema.name, 'l3', `replica ${op}`, err);
        return run(this.primary);
      }
      r.breaker.recordSuccess();
      return result;
    };
    // Built on the primary: only these three reads can reach the replica, never a write.
    return {
      ...this.primary,
      search: (schema, query) => read(schema, 'search', (l3) => l3.search(schema, query)),
      count: (schema, where, pending) => read(schema, 'count', (l3) => l3.count(schema, where, pending)),
      findMany: (schema, ids, pending) => read(schema, 'findMany', (l3) => l3.findMany(schema, ids, pending)),
    };
  }

  /**
   * Whether the replica has replayed this instance's last write; false when the primary's position
   * cannot be read. Throws when the replica's cannot (a replica failure).
   */
  async #caughtUp(r: Replica, waits: Waits): Promise<boolean> {
    const primary = this.#source;
    if (!primary.walPosition || !r.raw.walPosition) return true;
    if (this.#lost > 0) {
      const lost = this.#lost;
      try {
        // Read after the failed ones' writes returned: it covers them.
        this.#written = Math.max(this.#written, await this.#position(primary));
      } catch {
        return false;
      }
      if (this.#lost === lost) this.#lost = 0;
    }
    const written = this.#written;
    if (r.replayed >= written) return true;
    // Shared for its deadline on this read's own timer, then read again: in a Worker the read that
    // sent it may belong to a request that has ended, its fetch cancelled (never settles), and
    // shared unbounded it held every later read routed to the replica (cut-short-replica.test.ts).
    const check = this.#check(r, waits);
    const replayed = await waitShared(
      check.read,
      check.at,
      this.config.timeouts.l3,
      () => {
        if (r.check === check) r.check = undefined;
        return this.#check(r, waits).read;
      },
      waits,
    );
    r.replayed = Math.max(r.replayed, replayed);
    return r.replayed >= written;
  }

  /** The replica's position read in flight, or one sent now (`r.check` until it settles). */
  #check(r: Replica, waits: Waits): NonNullable<Replica['check']> {
    if (r.check) return r.check;
    const check = {
      at: waits.now(),
      read: this.#position(r.raw).finally(() => {
        if (r.check === check) r.check = undefined;
      }),
    };
    r.check = check;
    return check;
  }
}

/**
 * `StrataConfig.replicas`: read-your-writes on the schemas' read replicas, by WAL position (see
 * `ReplicaReads`). A capability passed in, so a Worker without a replica does not bundle it;
 * adapter-node's `createStrata` passes it. Without it, a `readReplica` takes its reads unchecked.
 * @example
 * import { createDrizzleL3, readYourWrites } from '@strata/core/drizzle';
 * const replica = createDrizzleL3(drizzle(replicaPool));
 * const users = defineSchema({ table: usersTable, l3: { readReplica: replica, replicaReads: 'all' } });
 * const strata = new Strata({ l3: createDrizzleL3(drizzle(pool)), schemas: [users], replicas: readYourWrites });
 */
export const readYourWrites: ReplicaRouting = (primary, config) => new ReplicaReads(primary, config);
