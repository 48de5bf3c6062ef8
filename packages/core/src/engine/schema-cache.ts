import type { ResolvedConfig } from '../config.js';
import type { Encryptor } from '../crypto/types.js';
import { toMs } from '../duration.js';
import { messageOf, StrataError, schemaError } from '../errors.js';
import { createMemoryL1 } from '../l1/memory-l1.js';
import type { L1Tier } from '../l1/types.js';
import { type Envelope, EnvelopeHeader, ownerTag } from '../l2/envelope.js';
import { DROP } from '../l2/scripts.js';
import type { L2Script, L2Tier } from '../l2/types.js';
import type { L3Tier, Row } from '../l3/types.js';
import type { Waits } from '../resilience/wait.js';
import type { CompiledSchema, WriteMode } from '../schema/types.js';
import { Announced } from './announced.js';
import type { RunPerBucket } from './bucketing.js';
import { type Bucket, KeyRouter } from './buckets.js';
import { commitRows } from './cache-commit.js';
import type { EngineContext } from './context.js';
import { WriteFence } from './fence.js';
import { SchemaGeneration } from './generation.js';
import { InflightLoads } from './inflight-loads.js';
import { KeyOrder } from './key-order.js';
import type { KeySpace } from './keys.js';
import { RestoreChain, restoreMs } from './l2-reset.js';
import type { L2Watch } from './l2-watch.js';
import type { L3Claim } from './l3-claim.js';
import { OwnPending } from './own-pending.js';
import type { ResetsSeen } from './reset-since.js';
import { RowCodec } from './row-codec.js';
import { RowTags } from './row-tags.js';
import { Staleness } from './staleness.js';
import type { TagClock } from './tag-clock.js';
import { ThroughOrder } from './through-order.js';
import {
  type BuildCall,
  missedIn,
  pick,
  sendWatched,
  type WatchedOptions,
  writeByBucket,
} from './watched-writes.js';

/** L1's "known absent" entry (negative caching, a delete's tombstone). */
export const ABSENT: Readonly<{ absent: true }> = Object.freeze({ absent: true });
export type L1Value = Row | typeof ABSENT;

/** Longest a delete's tombstone stays in L2: far beyond any read in flight, short of filling Redis. */
export const MAX_TOMBSTONE_MS = 60_000;

/** A row (or, without `stored`, an absence) with its version, on its way into the caches. */
export interface Versioned {
  readonly key: string;
  readonly version: number;
  /** The stored shape (ciphertext where encrypted); absent = the key holds no row. */
  readonly stored?: Row;
  /** The plaintext of `stored`. */
  readonly plain?: Row;
}

/**
 * How `drop` decides per key: always, unless a write-behind row is pending, the same but keeping
 * rows as expired (`strata.expire`), or up to a version.
 */
type DropRule = 'all' | 'unlessPending' | 'expire' | readonly number[];

/**
 * The one owner of a schema's cached state in this instance: its L1 store, its L2 keys and
 * generation, the loads in flight, the fence for drops. Every path that puts a row into a cache or
 * takes one out goes through here, and every such change is versioned: no cache ever takes a value
 * older than the one it holds (see docs/semantics.md, "Versions").
 */
export class SchemaCache {
  readonly rows: RowCodec;
  readonly l1: L1Tier<L1Value> | undefined;
  readonly l2: L2Tier | undefined;
  readonly l3: L3Tier | undefined;
  /** The schema's keys in bucket 0 (the only one unless `config.buckets` > 1): searches' and write-behind's. */
  readonly keys: KeySpace;
  /** The schema's keys in every bucket, and each row's bucket. */
  readonly router: KeyRouter;
  /** Each bucket's keys, generation and watch (`config.buckets`); bucket 0's are `keys`, `generation`, `watch`. */
  readonly buckets: readonly Bucket[];
  readonly generation: SchemaGeneration | undefined;
  readonly watch: L2Watch;
  readonly owner: string;
  /** Reads the header of each L2 value (see `readL2`), one value at a time. */
  readonly header = new EnvelopeHeader();
  readonly l1TtlMs: number;
  readonly l2TtlMs: number;
  readonly negativeTtlMs: number;
  readonly writeMode: WriteMode;
  /** L1 cannot answer a whole cached row when some columns are kept out of it (omitL1). */
  readonly l1AnswersGets: boolean;
  /**
   * Writes and drops fence the reads in flight on their keys: such a read must not put back what
   * was written over or dropped (its keys' writes running: `fence.writing`).
   */
  readonly fence = new WriteFence();
  /** The writes of each key in call order (see `KeyOrder`). */
  readonly order = new KeyOrder();
  /** This instance's write-behind writes not known to be flushed (see `OwnPending`); none for other modes. */
  readonly ownPending: OwnPending | undefined;
  /** Versions other instances announced that L1 has not taken yet (see `Announced`). */
  readonly announced = new Announced();
  /** Own pending rows put back after Redis resets, one restore at a time: reads of L2 wait for them (see `readTicked`). */
  readonly restore: RestoreChain;
  /** Loads below L1 in flight, by key: concurrent misses share one (request coalescing). */
  readonly inflight = new InflightLoads();
  /** Writes that began in this instance, and those running: a search fills only when none ran meanwhile. */
  writeEpoch = 0;
  writesInFlight = 0;
  /** Moved on by every whole-L1 clear: reads in flight across one must not fill. */
  clears = 0;
  /** The buckets whose write-behind version counter may have gone back (Redis reset): a new epoch first. */
  readonly suspectCounters = new Set<number>();
  /** A write-through schema's place among its app's Redis-ordered writes (see `ThroughOrder`). */
  readonly through: ThroughOrder | undefined;
  /** Where search and count run: the schema's read replica (see `ReplicaReads`), else L3. */
  readonly reader: L3Tier | undefined;
  /** Where key reads below L2 run: `reader` with `replicaReads: 'all'`, else L3. */
  readonly rowReader: L3Tier | undefined;
  /** The schema's `stale` / `grace` windows; undefined when it has neither. */
  readonly aging: Staleness | undefined;
  /** A tagged schema's rows and the app's tag clock (see `SchemaDefinition.tags`). */
  readonly tags: RowTags | undefined;

  constructor(
    readonly schema: CompiledSchema,
    readonly config: ResolvedConfig,
    l2: L2Tier | undefined,
    encryptor: Promise<Encryptor> | undefined,
    /** A watch per bucket (its tick and boot marker). */
    watches: readonly L2Watch[],
    /** The engine's waits (`ctx.waits`). */
    waits: Waits,
    claim?: L3Claim,
    tagClock?: TagClock,
    /** A reader over the primary and a replica (`ReplicaReads.reader`). */
    replicas?: (replica: L3Tier) => L3Tier,
  ) {
    const { name } = schema;
    this.restore = new RestoreChain(restoreMs(config.timeouts), waits);
    this.l2 = schema.l2 === false ? undefined : l2;
    this.l3 = schema.l3 === false ? undefined : config.l3;
    const policy = schema.l3 || undefined;
    const replica = policy?.readReplica;
    this.reader = replica ? (replicas?.(replica) ?? replica) : this.l3;
    this.rowReader = policy?.replicaReads === 'all' ? this.reader : this.l3;
    if (!this.l2 && !this.l3) invalid(name, 'l2', 'has neither L2 nor L3: nothing would persist it');
    if (schema.encryptedKeys.length > 0 && !encryptor)
      invalid(
        name,
        'encryptionKey',
        "has encrypted fields: pass the app's key as the `encryptionKey` option",
      );
    const l1Policy = schema.l1 === false ? undefined : (schema.l1 ?? {});
    const l2Policy = schema.l2 === false ? {} : (schema.l2 ?? {});
    this.l1TtlMs = toMs(l1Policy?.ttl ?? config.ttl.l1, `${name}.l1.ttl`);
    // With no L3, L2 is the source of truth: its entries must not expire unless the schema says so.
    this.l2TtlMs = toMs(l2Policy.ttl ?? (this.l3 ? config.ttl.l2 : 0), `${name}.l2.ttl`);
    this.negativeTtlMs =
      schema.negativeTtl === undefined ? 0 : toMs(schema.negativeTtl, `${name}.negativeTtl`);
    this.writeMode = schema.writeMode ?? config.defaultWriteMode;
    this.ownPending =
      this.writeMode === 'write-behind'
        ? new OwnPending(
            waits,
            () => this.buckets.map((b) => b.watch.life()),
            (op) => config.metrics.count('resetWaitRanOut', { schema: name, op }),
          )
        : undefined;
    this.aging =
      schema.stale === undefined && schema.grace === undefined
        ? undefined
        : new Staleness(schema, config.clock);
    if (this.writeMode === 'write-behind' && !(config.writeBehind.queue && this.l2 && this.l3)) {
      // L2 orders and serves the write before the flush, L3 takes the flush, the queue holds it in between.
      // The queue named as the Go library's in-process buffer (which needed no setting) became.
      invalid(
        name,
        'writeMode',
        'write-behind needs config.writeBehind.queue (createMemoryQueue()), an L2 and an L3',
      );
    }
    this.rows = new RowCodec(schema, config.codec, encryptor, config.encryption.legacy);
    this.router = new KeyRouter(config.keyPrefix, schema, config.codec.name, config.buckets);
    this.keys = this.router.spaces[0]!;
    this.owner = ownerTag(schema.identity);
    this.tags =
      schema.tags && tagClock
        ? new RowTags(schema, tagClock, (err) =>
            config.logger.warn('a row has no usable tags: it is not cached', {
              schema: name,
              error: messageOf(err),
            }),
          )
        : undefined;
    this.buckets = this.router.spaces.map((keys, b) => ({
      keys,
      watch: watches[b]!,
      generation:
        this.l2 &&
        new SchemaGeneration(
          this.l2,
          keys,
          config.clock,
          waits,
          watches[b]!,
          claim,
          () => {
            // Loads still out would fill L1 (`offerL1` no longer declines) and be joined (l3-claim.test.ts);
            // L1 goes too: a bucket turned out another app's, nothing held of the schema is kept.
            this.clears += 1;
            this.inflight.clear();
            this.l1?.clear();
          },
          config.timeouts.l2,
        ),
    }));
    this.generation = this.buckets[0]!.generation;
    this.watch = watches[0]!;
    this.through =
      this.l2 && this.l3 && this.writeMode !== 'write-behind' ? new ThroughOrder(this) : undefined;
    this.l1AnswersGets = schema.l1Keys.length === schema.l2Keys.length;
    const onEvict = schema.hooks.onEvict;
    this.l1 = l1Policy
      ? createMemoryL1<L1Value>({
          maxEntries: l1Policy.maxEntries ?? config.l1.maxEntries,
          eviction: l1Policy.eviction ?? config.l1.eviction,
          defaultTtlMs: this.l1TtlMs,
          clock: config.clock,
          ...(onEvict && {
            onEvict: (id, value, reason) => {
              if (value !== ABSENT) onEvict(id, value, reason);
            },
          }),
          onHookError: (err) =>
            config.logger.warn('onEvict hook threw', { schema: name, error: String(err) }),
        })
      : undefined;
  }

  /** How long a tier keeps a row with `ttlMs` of fresh time (L1 expiry, Redis PX): the windows past it too. */
  holdMs(ttlMs: number): number {
    return this.aging ? this.aging.hold(ttlMs) : ttlMs;
  }

  // ---- L2 values ----

  /** Now on Redis' clock, as this instance estimates it (see `L2Watch.skew`): what L2 values are aged on. */
  l2Now(): number {
    return this.config.clock.now() + this.watch.skew;
  }

  /** The resets each bucket's watch has seen so far: taken when a write takes its versions (see `ResetsSeen`). */
  resetsSeen(): ResetsSeen {
    return this.buckets.map((b) => b.watch.resets);
  }

  /** How long a delete's tombstone answers "absent" (its fresh time; Redis keeps it `keepMs` of that). */
  tombstoneTtlMs(): number {
    return this.l2TtlMs > 0 ? Math.min(this.l2TtlMs, MAX_TOMBSTONE_MS) : MAX_TOMBSTONE_MS;
  }

  /**
   * How long a read that began before a write may still fill L2 after it: its L3 read, then the
   * fill's generation read and PUT, each within its deadline. A write's value (row, tombstone) and
   * a drop's or a change's floor stay in Redis at least this long, whatever their fresh time: the
   * version they carry is what refuses that late fill (PUT takes nothing older). Gone sooner (an L2
   * TTL of a few ms), the late fill landed on an empty key and every instance read the row the write
   * replaced (races-coherence, stale windows, seed 1476246212: a delete's 5 ms tombstone).
   */
  floorMs(): number {
    return this.config.timeouts.l3 + 2 * this.config.timeouts.l2;
  }

  /** The PX of a value that is a version floor and fresh (or held) for `ms` (0: kept for ever). */
  keepMs(ms: number): number {
    return ms > 0 ? Math.max(ms, this.floorMs()) : 0;
  }

  rowKeys(keys: readonly string[]): string[] {
    return keys.map((key) => this.router.of(key).row(key));
  }

  /**
   * Runs `run` once per bucket that `keys` touch, in parallel, with the positions of its keys
   * (undefined: all of them, the only bucket); resolves the replies' items at their keys' positions.
   * Over several buckets `config.bucketing` splits them (a Worker, on one, does not bundle that).
   */
  async byBucket(keys: readonly string[], run: RunPerBucket): Promise<unknown[]> {
    if (this.buckets.length > 1) return this.config.bucketing!.byBucket(this, keys, run);
    return [...(await run(this.buckets[0]!, undefined))];
  }

  /**
   * Runs a write script of the tick-and-generation kind (PUT, DROP: KEYS = tick, generation, the
   * row keys `build` makes for a generation, `bumps`; ARGV = generation, `build`'s args), tells the
   * watch the tick it replied, and, when the generation moved on meanwhile, builds the call again
   * for the new one. Resolves the reply after its tick and status. When its reply finds Redis
   * reset, a write (`redoAfterReset`) is made again after the reset's generation move; anything
   * else is given up (resolves `[]`). `writes`: the keys whose rows the script changes (a write,
   * not a fill): their keys under the table's other live shapes are marked too (see `shapeTail`),
   * sent again when the live shapes changed.
   */
  async runWatched(
    script: L2Script,
    build: BuildCall,
    options: WatchedOptions = {},
    bucket: Bucket = this.buckets[0]!,
  ): Promise<unknown[]> {
    for (let attempt = 0; attempt < 5; attempt++) {
      const sent = await sendWatched(
        this,
        script,
        build,
        options,
        bucket,
        await bucket.generation!.checked(),
      );
      if (sent.reply) return sent.reply;
      // Its own reply found Redis reset: it landed (if at all) in the generation the reset moves
      // past. A write is made again in the new one; a fill is not (what it read may be older than
      // writes the reset lost, whose versions no longer guard it).
      if (sent.again === 'reset' && !options.redoAfterReset) return [];
    }
    throw schemaError('L2_UNAVAILABLE', this.schema.name, 'its L2 generation kept moving');
  }

  // ---- what changes the caches ----

  /**
   * A write of `keys` begins: they are fenced (no read out now, or begun before the write ends,
   * fills a cache with them), loads in flight on them are detached (a read that starts after the
   * write acknowledged must not join one that began before), and searches in flight will not fill.
   * Versions alone did not keep such a read out of L1: L1 refuses an older row only while it holds
   * the write's entry, and one past its TTL or evicted holds nothing (regression-own-write-fill).
   */
  beginWrite(keys: readonly string[]): void {
    this.writeEpoch += 1;
    this.writesInFlight += 1;
    for (const key of keys) {
      this.inflight.delete(key);
      this.fence.beginWrite(key);
    }
  }

  /**
   * The write of `keys` is done (the caches took it): loads that began while it ran are detached
   * too (they may have read the source before it committed), so a read after the write joins none.
   */
  endWrite(keys: readonly string[]): void {
    this.writesInFlight -= 1;
    for (const key of keys) {
      this.inflight.delete(key);
      if (this.fence.endWrite(key) && this.announced.of(key) === Number.POSITIVE_INFINITY)
        this.announced.met(key);
    }
  }

  /**
   * After Postgres committed rows, L2 and then L1 take them (see `commitRows`): a method, as the
   * flusher and the write paths call it on the schema they write.
   */
  commit(
    ctx: EngineContext,
    items: readonly Versioned[],
    options?: { settle?: boolean; since?: ResetsSeen },
  ): Promise<void> {
    return commitRows(this, ctx, items, options);
  }

  /**
   * Drops cached copies of `keys` here (L1, loads in flight, fenced) and in L2 by `rule`, the search
   * generation moving on in the same request. If L2 cannot be reached, the generation of each bucket
   * it missed must move on. Resolves whether L2 took the drop in every bucket (true without L2): a
   * dead letter waits for it (see `failed` in flusher.ts).
   */
  async drop(ctx: EngineContext, keys: readonly string[], rule: DropRule): Promise<boolean> {
    this.writeEpoch += 1;
    keys.forEach((key, i) => {
      this.fence.beginWrite(key);
      this.inflight.delete(key);
      const held = this.l1?.peek(key);
      if (held && (typeof rule === 'string' || held.version <= rule[i]!)) this.l1!.delete(key);
      this.fence.endWrite(key);
    });
    if (!this.l2 || keys.length === 0) return true;
    try {
      const rules = keys.map((_, i) => (typeof rule === 'string' ? rule : String(rule[i])));
      // The version floor a dropped value leaves (see DROP): as long as a delete's tombstone.
      const floor = [String(this.keepMs(this.tombstoneTtlMs())), this.owner];
      const { missed } = await writeByBucket(this, keys, (bucket, at) => {
        const part = pick(keys, at);
        const build = () => ({
          keys: this.rowKeys(part),
          args: [String(part.length), ...pick(rules, at), ...floor],
        });
        return this.runWatched(DROP, build, { bumps: true, writes: part }, bucket);
      });
      if (missed) missedIn(this, ctx, 'drop', missed);
      return !missed;
    } catch (err) {
      if (!this.l3) throw err;
      this.recordMissedWrite();
      ctx.tolerate(this.schema.name, 'l2', 'drop', err);
      return false;
    }
  }

  /**
   * L2 missed a committed write in `buckets` (every bucket when not known): their generations move
   * on before their next use. Only theirs: a row is cached in its own bucket alone (its row key,
   * its other shapes' keys, its bucket's search generation), so no other bucket holds a copy the
   * write left stale.
   */
  recordMissedWrite(buckets?: readonly number[]): void {
    for (const b of buckets ?? this.buckets.keys()) this.buckets[b]!.generation!.recordMissedWrite();
  }
}

function invalid(schema: string, field: string, why: string): never {
  throw new StrataError('INVALID_CONFIG', `schema ${schema} ${why}`, { details: { schema, field } });
}

export type { Envelope };
