import type { PollOutcome } from '../capture/relay.js';
import { type ResolvedConfig, resolveConfig, type StrataConfig } from '../config.js';
import type { Encryptor } from '../crypto/types.js';
import { StrataError } from '../errors.js';
import type { L2Tier } from '../l2/types.js';
import type { MigrationRecord, MigrationResult } from '../l3/types.js';
import { LatencyWindow } from '../observability/latency.js';
import { Q } from '../query/builder.js';
import type { Query } from '../query/types.js';
import type { Delivery, QueuedWrite, WriteQueue } from '../queue/types.js';
import type { CircuitBreaker } from '../resilience/circuit-breaker.js';
import type { CompiledSchema } from '../schema/types.js';
import { ADMIN, type AdminAccess } from './admin-access.js';
import { appTagClock } from './app-tag-clock.js';
import { bucketRoot, checkBuckets } from './buckets.js';
import { existsOne, invalidateOne, invalidateSchema } from './cache-control.js';
import type { CallParts } from './call-parts.js';
import type { AnySchema, FullRowOf, GetOptions, InsertOf, RowOf } from './call-types.js';
import { type CaptureAdmin, captureAdmin } from './capture-admin.js';
import { EngineCapture } from './change-capture.js';
import { Coherence } from './coherence.js';
import { configEncryptor } from './config-encryptor.js';
import type { EngineContext } from './context.js';
import type { FlushLoop } from './flush-loop.js';
import { type FlushOutcome, flushDeliveries, type Publish } from './flusher.js';
import { ASK, findRow, fromL1, getRows, type L1Answer, MISS, notFound } from './get-calls.js';
import { type Id, normalizeId } from './ids.js';
import { schemaReset } from './l2-reset.js';
import { L2Watch } from './l2-watch.js';
import { L3Claim } from './l3-claim.js';
import { checkQueueNamespace, pullLoopOf } from './queue-checks.js';
import type { ReadStatus } from './read-status.js';
import { l1ReadStatus } from './read-with-status.js';
import { Registry, type SchemaRef } from './registry.js';
import type { ReplicaRouter } from './replica-reads.js';
import { SchemaCache } from './schema-cache.js';
import { countRows, searchCachedRows, searchRows } from './search.js';
import { lastUser, shareTier } from './shared-tiers.js';
import { findResets, mendStaleGenerations } from './stale-generations.js';
import type { StrataStats } from './stats.js';
import { statsSnapshot } from './stats-snapshot.js';
import { startTimers } from './strata-timers.js';
import type { TagClock } from './tag-clock.js';
import { invalidateTagged } from './tags.js';
import { Tx } from './tx.js';
import { commitTxCall } from './tx-call.js';
import { warmCache } from './warm-cache.js';
import { wireTiers } from './wired-tiers.js';
import { withdrawalsSent } from './withdrawals-sent.js';
import { deleteRow, deleteRows, setRow, setRows } from './write-calls.js';
import { Writer } from './writer.js';

/**
 * The three-tier data store (DataStore in the Go library Strata): L1 memory -> L2 Redis -> L3 Postgres.
 * @example
 * const strata = new Strata({ l2: createUpstashL2({ url, token }), l3: createDrizzleL3(db), schemas: [players] });
 * await strata.set(players, { id: 'p1', username: 'ada', level: 1 });
 * const p = await strata.get(players, 'p1'); // typed from the Drizzle table
 */
export class Strata {
  readonly #config: ResolvedConfig;
  readonly #ctx: EngineContext;
  readonly #registry = new Registry<SchemaCache>();
  #tagClock: TagClock | undefined;
  /** A watch per bucket: each bucket's tick and boot marker tell its shard's resets apart. */
  readonly #watches: L2Watch[];
  readonly #l2: L2Tier | undefined;
  readonly #l3Claim: L3Claim;
  readonly #replicas: ReplicaRouter | undefined;
  readonly #breaker: CircuitBreaker | undefined;
  readonly #encryptor: Promise<Encryptor> | undefined;
  readonly #coherence: Coherence;
  readonly #flushLoop: FlushLoop | undefined;
  readonly #writer: Writer;
  /** What the calls in get-calls.ts, write-calls.ts and tx-call.ts work on. */
  readonly #parts: CallParts;
  readonly #changes: EngineCapture;
  readonly #latency = { l2: new LatencyWindow(), l3: new LatencyWindow() };
  #closed = false;
  #closing: Promise<void> | undefined;
  #stopTimers: (() => void)[];
  /** The queue as given (not wrapped): what other instances may share, see shared-tiers.ts. */
  readonly #givenQueue: WriteQueue | undefined;

  constructor(config: StrataConfig = {}) {
    const resolved = resolveConfig(config);
    checkBuckets(resolved);
    const wired = wireTiers(resolved, this.#latency);
    this.#config = wired.config;
    this.#ctx = wired.ctx;
    this.#l2 = wired.l2;
    this.#breaker = wired.breaker;
    this.#replicas = wired.replicas;
    if (resolved.l2?.warning) this.#config.logger.warn(resolved.l2.warning, { tier: resolved.l2.name });
    const { tracing } = resolved;
    const { instruments } = wired;
    const rawQueue = resolved.writeBehind.queue;
    this.#encryptor = configEncryptor(this.#config);
    const lookup = (identity: string) => this.#registry.byIdentity(identity);
    this.#coherence = new Coherence(
      this.#ctx,
      lookup,
      () => this.#registry.all(),
      () => this.#tagClock,
    );
    this.#watches = Array.from(
      { length: this.#config.buckets },
      (_, b) => new L2Watch((why, replace) => this.#l2Reset(why, replace, b)),
    );
    this.#l3Claim = new L3Claim(
      this.#config.l3,
      this.#config.keyPrefix,
      this.#config.logger,
      this.#config.clock,
      this.#ctx.waits,
      this.#config.timeouts.l3,
    );
    const { queue } = this.#config.writeBehind;
    checkQueueNamespace(rawQueue, this.#config.keyPrefix);
    // A pull queue brings the loop that drives it (a Worker's push queue does not: not bundled there).
    if (queue?.take)
      this.#flushLoop = new (pullLoopOf(rawQueue!))(
        this.#ctx,
        queue as FlushLoop['queue'],
        lookup,
        this.#publish,
      );
    this.#writer = new Writer(this.#ctx, this.#coherence, queue, this.#flushLoop, this.#l2);
    this.#parts = {
      ctx: this.#ctx,
      coherence: this.#coherence,
      writer: this.#writer,
      runtime: (schema) => this.#runtime(schema),
    };
    for (const schema of config.schemas ?? []) this.register(schema);
    const all = () => this.#registry.all();
    this.#changes = new EngineCapture(this.#ctx, this.#coherence, lookup, all, this.#l2, resolved.l3, () =>
      this.capture.check(),
    );
    instruments?.operations(this, tracing);
    this.#stopTimers = startTimers(
      this.#ctx,
      this.#config,
      this.#changes,
      all,
      this.#l2,
      this.#breaker,
      this.#flushLoop,
    );
    // Last, once nothing above threw: an instance that was never made holds no share.
    this.#givenQueue = rawQueue;
    shareTier(resolved.l2);
    shareTier(rawQueue);
  }

  /** Where the app's tags live: bucket 0's root (one slot: BUMP_TAGS moves the tag clock and the tags at once). */
  get #tagRoot(): string {
    return bucketRoot(this.#config.keyPrefix, 0, this.#config.buckets);
  }

  /** Registers a schema (SCHEMA_DUPLICATE if its name is taken). */
  register(schema: CompiledSchema): this {
    // The app's tag clock, once a schema tags its rows (search lists' tags need none).
    if (schema.tags)
      this.#tagClock ??= appTagClock(this.#config, this.#ctx, this.#l2, this.#tagRoot, () =>
        this.#registry.all(),
      );
    this.#registry.add(
      new SchemaCache(
        schema,
        this.#config,
        this.#l2,
        this.#encryptor,
        this.#watches,
        this.#ctx.waits,
        this.#l3Claim,
        this.#tagClock,
        this.#replicas && ((replica) => this.#replicas!.reader(this.#ctx, replica)),
      ),
    );
    return this;
  }

  /** The row with this id; throws NOT_FOUND when no tier has it. */
  get<S extends AnySchema>(schema: S, id: Id, options: { complete: true }): Promise<FullRowOf<S>>;
  get<S extends AnySchema>(schema: S, id: Id, options?: GetOptions): Promise<RowOf<S>>;
  get<S extends AnySchema>(schema: S, id: Id, options?: GetOptions): Promise<RowOf<S>> {
    let l1: L1Answer;
    try {
      l1 = fromL1(this.#parts, schema, id, options);
      // A hit allocates nothing but the promise: no closure, no wrapper object.
      if (l1 !== ASK && l1 !== MISS && l1 !== null) return Promise.resolve(l1 as RowOf<S>);
      if (l1 === null) return Promise.reject(notFound(schema, id));
    } catch (err) {
      return Promise.reject(err);
    }
    // NOT_FOUND thrown inside #find: no `.then` (a promise and a microtask turn) on every read.
    return findRow(this.#parts, schema, id, options, l1 === MISS, undefined, true) as Promise<RowOf<S>>;
  }

  /** The row with this id, or `null` when no tier has it. */
  find<S extends AnySchema>(schema: S, id: Id, options: { complete: true }): Promise<FullRowOf<S> | null>;
  find<S extends AnySchema>(schema: S, id: Id, options?: GetOptions): Promise<RowOf<S> | null>;
  find<S extends AnySchema>(schema: S, id: Id, options: GetOptions = {}): Promise<RowOf<S> | null> {
    let l1: L1Answer;
    try {
      l1 = fromL1(this.#parts, schema, id, options);
      if (l1 !== ASK && l1 !== MISS) return Promise.resolve(l1 as RowOf<S> | null);
    } catch (err) {
      return Promise.reject(err);
    }
    return findRow(this.#parts, schema, id, options, l1 === MISS);
  }

  /**
   * This instance's L1 copy of the row, synchronously: the row, `null` when cached as absent, or
   * `undefined` when L1 cannot answer alone (not held, hooks around gets, an invalidation poll due,
   * omitL1 columns). Never asks L2 or L3, so it never waits: for the hottest paths, with `find` behind it.
   * A schema with a `stale` window answers a stale copy too, and starts its refresh in the background.
   * @example const flags = strata.peek(flagSchema, 'global') ?? (await strata.get(flagSchema, 'global'));
   */
  peek<S extends AnySchema>(schema: S, id: Id): RowOf<S> | null | undefined {
    const answer = fromL1(this.#parts, schema, id, undefined);
    return answer === ASK || answer === MISS ? undefined : (answer as RowOf<S> | null);
  }

  /**
   * `find` with where its answer came from and how old it is ({@link ReadStatus}): the tier, stale or
   * graced, a refresh running, the version, how long it stays fresh. An L1 hit answers as `find`'s
   * does (no await); a miss makes its own load (it does not join a concurrent read of the key, so
   * the status is of this read's answer). `cacheStatusHeader(status)` (`@strata/core/driver`)
   * makes a `Cache-Status` header of it.
   * @example
   * const { row, status } = await strata.findWithStatus(players, 'p1');
   * if (status.stale) console.log(`served ${status.ageMs} ms old, refreshing: ${status.refreshing}`);
   */
  async findWithStatus<S extends AnySchema>(
    schema: S,
    id: Id,
    options: Pick<GetOptions, 'stale'> = {},
  ): Promise<{ row: RowOf<S> | null; status: ReadStatus }> {
    const seen = { stale: false, grace: false };
    const l1 = fromL1(this.#parts, schema, id, options, seen);
    if (l1 !== ASK && l1 !== MISS) {
      const rt = this.#runtime(schema);
      return { row: l1 as RowOf<S> | null, status: l1ReadStatus(rt, normalizeId(rt.schema, id), seen) };
    }
    const out: { status?: ReadStatus } = {};
    const row = await findRow(this.#parts, schema, id, { stale: options.stale }, l1 === MISS, out);
    return { row, status: out.status! };
  }

  /** Rows for `ids` in order (`null` where absent): one request per tier at most. */
  async getMany<S extends AnySchema>(
    schema: S,
    ids: readonly Id[],
    options: Pick<GetOptions, 'stale'> = {},
  ): Promise<(RowOf<S> | null)[]> {
    return (await getRows(this.#parts, schema, ids, options)).rows as (RowOf<S> | null)[];
  }

  /**
   * `getMany` with where each answer came from and how old it is ({@link ReadStatus}, by position).
   * L1 hits answer as `getMany`'s do; the rest is one load of its own (it joins no concurrent read).
   * @example
   * const { rows, status } = await strata.getManyWithStatus(players, ['p1', 'p2']);
   * if (status.some((s) => s.stale)) res.headers.set('Warning', '110 - "stale"');
   */
  async getManyWithStatus<S extends AnySchema>(
    schema: S,
    ids: readonly Id[],
    options: Pick<GetOptions, 'stale'> = {},
  ): Promise<{ rows: (RowOf<S> | null)[]; status: ReadStatus[] }> {
    const out = await getRows(this.#parts, schema, ids, options, true);
    return out as { rows: (RowOf<S> | null)[]; status: ReadStatus[] };
  }

  /** Writes a row by the schema's write mode; resolves the row as stored (with Postgres defaults). */
  set<S extends AnySchema>(schema: S, value: InsertOf<S>): Promise<RowOf<S>> {
    return setRow(this.#parts, schema, value) as Promise<RowOf<S>>;
  }

  /**
   * Writes many rows (an array, or a Map / record keyed by id) in one batch: L3 in chunked multi-row
   * upserts inside one transaction, L2 in one pipelined request. Several rows with one id: each
   * later one over the ones before it, as sets one after the other (the columns it leaves out keep
   * their values); the key takes the last one's place in the batch.
   */
  setMany<S extends AnySchema>(
    schema: S,
    values: readonly InsertOf<S>[] | ReadonlyMap<Id, InsertOf<S>> | Readonly<Record<string, InsertOf<S>>>,
  ): Promise<RowOf<S>[]> {
    return setRows(this.#parts, schema, values) as Promise<RowOf<S>[]>;
  }

  /** Deletes many ids from every tier in one batch; resolves how many rows existed. */
  deleteMany(schema: AnySchema, ids: readonly Id[]): Promise<number> {
    return deleteRows(this.#parts, schema, ids);
  }

  /**
   * Runs a query on L3 (the read replica if the schema has one); full rows also fill L1 and L2.
   * @example await strata.search(players, Q().where('level > $1', 10).orderBy('level').desc().limit(50).build());
   */
  async search<S extends AnySchema>(schema: S, query: Query = Q().build()): Promise<FullRowOf<S>[]> {
    return (await searchRows(this.#ctx, this.#runtime(schema), query)) as FullRowOf<S>[];
  }

  /**
   * Like `search`, with the whole result list cached in L2 until any write to the schema (or the L2
   * TTL). Rows are cached views: no omitCache columns.
   */
  async searchCached<S extends AnySchema>(schema: S, query: Query = Q().build()): Promise<RowOf<S>[]> {
    return (await searchCachedRows(this.#ctx, this.#runtime(schema), query)) as RowOf<S>[];
  }

  /**
   * `searchCached` with where its list came from ({@link ReadStatus}): `tier` 'l2' (the cached list)
   * or 'l3' (read now, and cached), its `version` (the search generation), how long the list stays
   * cached. A list is never stale: one older than the last write is never served.
   * @example
   * const { rows, status } = await strata.searchCachedWithStatus(players, Q().where('level > $1', 10).build());
   * res.headers.set('Cache-Status', cacheStatusHeader(status));
   */
  async searchCachedWithStatus<S extends AnySchema>(
    schema: S,
    query: Query = Q().build(),
  ): Promise<{ rows: RowOf<S>[]; status: ReadStatus }> {
    const out: { status?: ReadStatus } = {};
    const rows = (await searchCachedRows(this.#ctx, this.#runtime(schema), query, out)) as RowOf<S>[];
    return { rows, status: out.status! };
  }

  /** Rows matching the query's where (all rows without a query). Always asks L3. */
  count(schema: AnySchema, query: Query = Q().build()): Promise<number> {
    return countRows(this.#ctx, this.#runtime(schema), query);
  }

  /**
   * A transaction across schemas, atomic in L3; caches change only after the commit.
   * @example await strata.tx().set(players, p).delete(sessions, 'old').commit();
   */
  tx(): Tx {
    return new Tx((ops, options) => commitTxCall(this.#parts, this.#publish, ops, options));
  }

  /** Removes a row from every tier; resolves whether it existed. */
  delete(schema: AnySchema, id: Id): Promise<boolean> {
    return deleteRow(this.#parts, schema, id);
  }

  /** Whether a row exists, asking the tiers in order and loading no columns from L3. */
  exists(schema: AnySchema, id: Id): Promise<boolean> {
    const rt = this.#runtime(schema);
    return existsOne(this.#ctx, rt, normalizeId(rt.schema, id));
  }

  /** Drops one id from L1 and L2 (not L3), here and on the other instances: the next read reloads it. */
  invalidate(schema: AnySchema, id: Id): Promise<void> {
    const rt = this.#runtime(schema);
    return invalidateOne(this.#ctx, rt, this.#coherence, normalizeId(rt.schema, id));
  }

  /**
   * Soft invalidation: the row stays in L2 but counts as past its fresh time, and every instance's
   * L1 copy goes. With a `stale` window the next read answers it at once and refreshes it; with
   * `grace` it answers if Postgres fails. Without windows it is `invalidate`. Use `invalidate` (or
   * `delete`) when the old row must never be answered again.
   * @example await strata.expire(players, 'p1'); // refreshed on the next read, still usable for grace
   */
  async expire(schema: AnySchema, id: Id): Promise<void> {
    const rt = this.#runtime(schema);
    return invalidateOne(this.#ctx, rt, this.#coherence, normalizeId(rt.schema, id), true);
  }

  /**
   * Drops every cached row (of schemas with `tags`) and search list (`Q().tags(…)` on
   * `searchCached`) tagged with any of `tags`, on every instance: one Redis request moves each tag
   * on, however many entries carry it (no SCAN, no index). The app's schemas share its tags.
   * Pending write-behind rows stay: they are the newest writes, not cached copies.
   * @example await strata.invalidateTags(['league:7']); // the league's cached rows and leaderboards go
   */
  invalidateTags(tags: readonly string[]): Promise<void> {
    // Closed is UNAVAILABLE as for every other call (its L2 is released: not L2_UNAVAILABLE).
    if (this.#closed) return Promise.reject(closedError());
    return invalidateTagged(this.#ctx, this.#l2, this.#tagRoot, this.#tagClock, this.#coherence, tags);
  }

  /** Drops every cached row of a schema at constant cost: clears its L1 and moves its L2 generation on. */
  invalidateAll(schema: AnySchema): Promise<void> {
    return invalidateSchema(this.#runtime(schema), this.#coherence);
  }

  /**
   * Reads the change log now (the relay's interval skipped; another instance's lease honoured) and
   * resolves once what it read is applied: what the poll did, or undefined when `capture.relay` is
   * off. A failed read is in the outcome (counted and logged), never a rejection; a closed
   * instance rejects with UNAVAILABLE.
   * @example
   * await strata.relayChanges(); // { status: 'applied', changes: 2, gap: false }
   */
  relayChanges(): Promise<PollOutcome | undefined> {
    if (this.#closed) return Promise.reject(closedError());
    return this.#changes.relayNow();
  }

  /**
   * Loads up to `limit` rows (0 = all) from L3 into L2 and L1, `pageSize` at a time; resolves how
   * many. A `limit` not an integer >= 0 or a `pageSize` not in 1..10,000 rejects: INVALID_QUERY.
   */
  warmCache(schema: AnySchema, limit = 0, pageSize = 500): Promise<number> {
    return warmCache(this.#ctx, this.#runtime(schema), limit, pageSize);
  }

  /**
   * Additive, idempotent DDL for every registered schema with an L3; with `capture: true`, then
   * installs change capture on their tables (see `capture`).
   * @example await strata.migrate({ capture: true });
   */
  async migrate(options: { capture?: boolean } = {}): Promise<MigrationResult> {
    const l3 = this.#requireL3();
    const result = await l3.migrate(this.#l3Schemas());
    if (options.capture) await this.capture.install();
    // Postgres answers now: learn which database it is, so the first L2 read is checked (L3Claim).
    await this.#l3Claim.learn();
    return result;
  }

  migrationStatus(): Promise<MigrationRecord[]> {
    return this.#requireL3().migrationStatus();
  }

  stats(): StrataStats {
    return statsSnapshot(
      this.#ctx,
      this.#registry.all(),
      this.#writer,
      this.#coherence,
      this.#breaker,
      this.#latency,
      this.#changes,
    );
  }

  /**
   * Write-behind writes waiting in the queue, as the queue reports it (every producer's on a shared
   * queue); `null` when no queue is configured. One round trip.
   * @example const depth = await strata.queueDepth(); // 0 once the flusher has caught up
   */
  async queueDepth(): Promise<number | null> {
    if (this.#closed) throw closedError(); // not the queue's QUEUE_UNAVAILABLE: the instance is closed
    const { queue } = this.#config.writeBehind;
    return queue ? queue.pending() : null;
  }

  /**
   * Waits until the write-behind writes of this app queued before the call are in L3 (FlushDirty in
   * the Go library Strata): it flushes what it can take, and on a shared queue (Redis Stream) also
   * waits for writes another instance took and has not applied yet (at most the queue's claim
   * timeout, after which it takes a dead instance's writes over; a `close()` meanwhile ends that
   * wait). Throws L3_UNAVAILABLE if L3 refuses them; they stay queued.
   * @example await strata.flushDirty(); // every write-behind write acknowledged before is in Postgres
   */
  async flushDirty(): Promise<void> {
    if (this.#closed) throw closedError();
    if (this.#flushLoop) await findResets(this.#ctx, this.#registry.all());
    // Writes of unknown outcome the queue refused, queued again (or withdrawn) once decided.
    await Promise.all(this.#ctx.unqueued);
    await this.#flushLoop?.drain({ held: true });
  }

  /**
   * Whether {@link flushBatch} would apply this queued write here: it names a table registered in
   * this instance (with an L3) and this instance's keyPrefix, or no keyPrefix (an older producer's
   * message). `flushRouted` from `@strata/core/driver` routes a shared queue's writes by it.
   * @example strata.flushes({ schema: 'tenant_a.players', keyPrefix: 'tenant_a' }); // true where registered
   */
  flushes(write: { readonly schema: string; readonly keyPrefix?: string | undefined }): boolean {
    const { keyPrefix } = write;
    if (keyPrefix !== undefined && keyPrefix !== this.#config.keyPrefix) return false;
    return this.#registry.byIdentity(write.schema)?.l3 !== undefined;
  }

  /**
   * Applies a batch a push queue delivered (Cloudflare Queues' `queue()` handler) and says what to
   * do with each message: ack, retry, or dead-letter. Adapters call this; see `@strata/adapter-workers`.
   * Resolves once the flush's deferred work (its bus publishes) has settled too.
   */
  async flushBatch(deliveries: readonly Delivery[]): Promise<FlushOutcome> {
    const lookup = (identity: string) => this.#registry.byIdentity(identity);
    const outcome = await flushDeliveries(this.#ctx, lookup, deliveries, this.#publish);
    // A queue() invocation may be stopped once its handler returns, and a publish stopped midway is
    // never sent again (it did not fail): other isolates would keep a dead letter's row in L1.
    await this.#settled();
    const c = this.#ctx.counters;
    c.flushed += outcome.acked.length;
    c.retried += outcome.retried.length;
    c.deadLettered += outcome.dead.length;
    return outcome;
  }

  /**
   * Tells Postgres that the dead letters of a {@link flushBatch} marked `withdrawn` are in the
   * dead-letter store now (a push queue's adapter calls it once its dead-letter send succeeded):
   * only then may a withdrawal be cleaned up. Unsent, its message may be delivered again, and is
   * told from an older write only by its withdrawal. Never rejects: a failure is counted and logged
   * (those withdrawals stay).
   * @example await strata.deadLettersSent(outcome.dead.flatMap((d) => (d.withdrawn ? [d.delivery.write] : [])));
   */
  deadLettersSent(writes: readonly QueuedWrite[]): Promise<void> {
    return withdrawalsSent(this.#ctx, (identity) => this.#registry.byIdentity(identity), writes);
  }

  /**
   * Resolves when the deferred work (L2 fills, bus publishes) in flight at call time has settled,
   * and what that work deferred in turn (a stale refresh's L2 fill), its failures counted and
   * logged as always; it never rejects. Each piece is waited for at most `2 × timeouts.l2 +
   * timeouts.l3` after it began (work cut short with a Worker request never settles); bus publishes
   * found cut short so are then sent again, and waited for the same way. Needed with `background: 'track'`,
   * where calls return before that work lands: hand it to the request's `waitUntil`.
   * @example
   * const strata = new Strata({ l2, l3, schemas, background: 'track' }); // one per isolate
   * export default { async fetch(req, env, ctx) { const r = await handle(req, strata); ctx.waitUntil(strata.settled()); return r; } };
   */
  settled(): Promise<void> {
    return this.#settled();
  }

  /**
   * The deferred work settled; then publishes found cut short (begun by a Worker request that ended,
   * never settling) are sent again, and waited for in turn: else the other instances would keep
   * the old rows in L1 until its TTL (request-cut-short.test.ts).
   */
  async #settled(): Promise<void> {
    await this.#ctx.settled();
    if (this.#coherence.resendCutShort()) await this.#ctx.settled();
  }

  /**
   * Refuses new writes, waits for running ones, flushes what waits (when a pull queue is
   * configured), waits for deferred work (`settled`), then releases what the tiers opened. Concurrent and repeated calls share one close.
   * An L2 or queue object other open instances were also given stays open: the last of them closes it.
   */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#ctx.closing = true;
    for (const stop of this.#stopTimers) stop();
    try {
      // First no write may still be acknowledged, then the flush: nothing acknowledged is left behind.
      await this.#writer.close();
      await Promise.all(this.#ctx.unqueued);
      // What other instances hold they apply (or take over once past the claim timeout): not waited
      // for, here or by a flushDirty still waiting for it.
      await this.#flushLoop?.drain();
    } finally {
      this.#flushLoop?.stop();
      this.#closed = true;
      // Background fills and publishes still need the bus and L2 that are released below.
      await this.#ctx.settled();
      await mendStaleGenerations(this.#ctx, this.#registry.all());
      await this.#coherence.close();
      // Closed by the last instance using them: another may share them (shared-tiers.ts).
      if (lastUser(this.#givenQueue)) await this.#config.writeBehind.queue?.close();
      if (lastUser(this.#config.l2)) await this.#l2?.close();
    }
  }

  /** Tells the other instances which keys a flush or a dead letter changed. */
  readonly #publish: Publish = (cache, keys, versions, op) =>
    this.#coherence.publish(cache, keys, versions, op);

  /**
   * L2 restarted without its data or came back from an older snapshot: every schema's cached rows
   * here and in L2 are dropped (its generation moves past every one seen), write-behind counters
   * start a new epoch before their next use, and the other instances are told (they also find out
   * themselves at their next generation read).
   */
  #l2Reset(why: string, replace: string, b: number): void {
    this.#ctx.counters.error('l2-reset');
    this.#config.logger.warn('L2 was reset: dropping every cached row', { why });
    // The tag counter went back with Redis: stamps from before would outrank every move after.
    this.#tagClock?.forget(true);
    const bus = Boolean(this.#config.coherence.bus);
    for (const rt of this.#registry.all()) schemaReset(this.#ctx, rt, replace, b, bus, this.#coherence);
  }

  /**
   * The internals `@strata/core/admin` works on (see admin-access.ts for why this exists): admin
   * operations are functions of their own entry point, so a Worker that never calls them does not
   * bundle them. UNAVAILABLE once closed.
   */
  [ADMIN](): AdminAccess {
    if (this.#closed) throw closedError();
    return { engine: this.#changes, runtime: (schema) => this.#runtime(schema) };
  }

  #runtime(schema: SchemaRef): SchemaCache {
    if (this.#closed) throw closedError();
    this.#changes.tick();
    return this.#registry.resolve(schema);
  }

  /**
   * Change capture of the registered schemas: triggers that record writes made outside Strata.
   * @example await strata.capture.install(); console.log(await strata.capture.check());
   */
  readonly capture: CaptureAdmin = captureAdmin(
    () => this.#requireL3(),
    // With the write mode each schema runs under (a default applies when the schema names none):
    // a write-behind table's triggers must not take versions from the Redis counter's range.
    () =>
      this.#registry
        .all()
        .filter((rt) => rt.l3)
        .map((rt) => ({ ...rt.schema, writeMode: rt.writeMode })),
    () => this.#changes.recheck(),
    // The app (its keyPrefix) is registered on its tables: other apps' writes to them are logged for it.
    () => this.#config.keyPrefix,
  );

  #l3Schemas(): CompiledSchema[] {
    return this.#registry
      .all()
      .filter((rt) => rt.l3)
      .map((rt) => rt.schema);
  }

  #requireL3() {
    const l3 = this.#config.l3;
    if (!l3) throw new StrataError('L3_UNAVAILABLE', 'no L3 is configured');
    return l3;
  }
}

function closedError(): StrataError {
  return new StrataError('UNAVAILABLE', 'this Strata instance is closed');
}
