// Strata's config, defined once: each option below is its check, its default and its doc comment.
// StrataConfig (what users write), ResolvedConfig (what the engine reads) and strataDefaults are
// derived from this shape, so an option added here is complete everywhere — the compiler says where
// the engine should use it.
import type { InvalidationBus } from './bus/types.js';
import type { RelayPlan } from './capture/change-relay.js';
import type { ChangeSource } from './capture/types.js';
import * as check from './check/checks.js';
import { type Clock, systemClock } from './clock.js';
import { jsonCodec } from './codec/json-codec.js';
import type { Codec } from './codec/types.js';
import * as option from './config/option.js';
import { refuseOptionsOfElsewhere } from './config/options-elsewhere.js';
import { refuseRenamedOptions } from './config/renamed-options.js';
import { SEAM_METHODS, seamCheck } from './config/seam-checks.js';
import { readKeyring } from './crypto/keyring.js';
import type { KeyMaterial, KeyringOptions } from './crypto/types.js';
import type { Bucketing } from './engine/bucketing.js';
import type { ReplicaRouting } from './engine/replica-reads.js';
import { StrataError } from './errors.js';
import type { L2Tier } from './l2/types.js';
import type { L3Tier } from './l3/types.js';
import { defaultLogger, type Logger, noopLogger } from './observability/logger.js';
import { type MetricsRecorder, noopMetrics } from './observability/metrics.js';
import { noopTracing, type Tracer } from './observability/tracing.js';
import type { WriteQueue } from './queue/types.js';
import { randomHex } from './random-id.js';
import type { Scheduler } from './scheduler.js';
import type { CompiledSchema } from './schema/types.js';

/**
 * Where deferred work (L2 fills, bus publishes) goes: the `background` option.
 * @example
 * const background: Background = ctx.waitUntil.bind(ctx); // or 'await' (default), or 'track'
 */
export type Background = 'await' | 'track' | ((work: Promise<unknown>) => void);

const positiveInt = check.number(check.int, check.gt(0));
const isFunction = (v: unknown) => typeof v === 'function';
const loggerCheck = seamCheck<Logger>(SEAM_METHODS.logger);

const configShape = {
  /** L2 implementation, e.g. `createUpstashL2({ url, token })`. Omitted: no L2. */
  l2: option.optional(seamCheck<L2Tier>(SEAM_METHODS.l2)),
  /** L3 implementation, e.g. `createDrizzleL3(db)`. Omitted: no L3 (L2 is the source of truth). */
  l3: option.optional(seamCheck<L3Tier>(SEAM_METHODS.l3)),
  /** Schemas to register at once (or call `register` later). */
  schemas: option.optional(
    check.array(check.custom((v) => typeof v === 'object' && v !== null && 'primaryKey' in v)) as check.Check<
      readonly CompiledSchema[]
    >,
  ),
  /** Default TTL of cached rows, per tier (a schema's own `l1.ttl` / `l2.ttl` wins). 0 = never expire. */
  ttl: option.group({
    /** L1 (in-process) TTL. Default '5m', as in the Go library Strata. */
    l1: option.duration('5m'),
    /** L2 (Redis) TTL. Default '30m', as in the Go library Strata. */
    l2: option.duration('30m'),
  }),
  /** A schema's write mode when it sets none. Default 'write-through'. */
  defaultWriteMode: option.defaulted(option.writeModeCheck, 'write-through'),
  /** L1 defaults per schema (the Go library's L1Pool options). */
  l1: option.group({
    /** Max entries, total per schema (not per shard). Default 10 000; 0 = no limit. */
    maxEntries: option.defaulted(check.number(check.int, check.gte(0)), 10_000),
    /** Which entry goes when full. Default 'sieve' (more hits than 'lru' on skewed traffic, cheaper hits). */
    eviction: option.defaulted(option.evictionCheck, 'sieve'),
    /** How rows handed out of L1 are kept from changing it: 'freeze' (default) or 'copy'. */
    protect: option.defaulted(check.oneOf(['freeze', 'copy']), 'freeze'),
    /** With a `scheduler`: drop expired entries this often. Default '30s'. */
    sweepEvery: option.duration('30s'),
  }),
  /** Per-call deadlines. */
  timeouts: option.group({
    /** Each L2 call. Default '1s'. */
    l2: option.duration('1s'),
    /** Each L3 call. Default '10s'. */
    l3: option.duration('10s'),
    /** Each write queue call (enqueue, take, ack, …). Default '5s'. */
    queue: option.duration('5s'),
  }),
  /** L2 circuit breaker: opens after `failureThreshold` consecutive failures for `cooldown`. */
  breaker: option.group({
    /** Default 5. */
    failureThreshold: option.defaulted(positiveInt, 5),
    /** Default '5s'. */
    cooldown: option.duration('5s'),
  }),
  /** Row encoding in L2. Default: JSON. */
  codec: option.defaulted(seamCheck<Codec>(SEAM_METHODS.codec), jsonCodec),
  /** 32-byte key (bytes, base64 or hex), or several with ids for rotation. Enables `encrypted` fields. */
  encryptionKey: option.computed(check.unknown as check.Check<KeyMaterial | KeyringOptions>, (key) => {
    // Throws INVALID_CONFIG (without key material in the message) for a key that is not 32 bytes.
    if (key !== undefined) for (const bytes of readKeyring(key).keys.values()) bytes.fill(0);
    return key;
  }),
  /** Encrypted fields, beyond their key (`encryptionKey`). */
  encryption: option.group({
    /**
     * Values sealed with the legacy binding (`v1.` ciphertext, written before Strata bound each
     * value unambiguously to its table, row and field): 'accept' (default) decrypts them, as they
     * were always read; 'refuse' fails their reads with DECODE_FAILED saying so. Refuse once
     * `reencrypt` (`@strata/core/admin`) has bound every stored value anew (docs/encryption.md).
     * 'write' also writes them: the first step of a rolling upgrade from a release before `v2.`
     * values, whose instances cannot read those (then 'accept' once every instance runs this one).
     */
    legacy: option.defaulted(check.oneOf(['write', 'accept', 'refuse']), 'accept'),
  }),
  /** How other instances learn which L1 entries to drop after each write. */
  coherence: option.group({
    /** The invalidation bus (see the bus implementations). Omitted: no cross-instance invalidation. */
    bus: option.optional(seamCheck<InvalidationBus>(SEAM_METHODS.bus)),
    /** Pull buses (the invalidation log for Workers): read it at most this often, before a read. Default '1s'. */
    pollInterval: option.duration('1s'),
  }),
  /**
   * Change capture: writes made to registered tables outside Strata, followed by the caches (see
   * docs/change-capture.md). With `relay` on, the instances of the app take turns (a lease in L2)
   * reading the change log at most every `interval` and apply what they read (`applyChanges`).
   * @example
   * capture: { relay: changeRelay({ interval: '1s' }) } // the L3's change log (`l3.capture`), read every second
   */
  capture: option.group({
    /** Where changes are read. Default: the L3's own change log (`l3.capture.source()`), when it has one. */
    source: option.optional(seamCheck<ChangeSource>(SEAM_METHODS.changeSource)),
    /**
     * The relay, made by `changeRelay({ interval, retention })` (default: none; nothing is read, and
     * `applyChanges(strata, changes)` of `@strata/core/admin` still takes changes from your own
     * CDC). Polls ride on calls (never awaited by them) and on the `scheduler` when the host lends one.
     */
    relay: option.optional(seamCheck<RelayPlan>(SEAM_METHODS.relayPlan)),
  }),
  /**
   * Read-your-writes on the schemas' `readReplica`s: `readYourWrites` from `@strata/core/drizzle`
   * (adapter-node's createStrata passes it). Omitted: a replica takes its reads unchecked, and this
   * instance may not see its own writes there until the replica replays them.
   */
  replicas: option.optional(check.custom<ReplicaRouting>(isFunction)),
  /** Write-behind: enqueue, acknowledge, flush in batches. */
  writeBehind: option.group({
    /** Where writes wait for their flush. Required by schemas with `writeMode: 'write-behind'`. */
    queue: option.optional(seamCheck<WriteQueue>(SEAM_METHODS.queue)),
    /** Flush every this long when the host passes a `scheduler`. Default '500ms', as in the Go library Strata. */
    flushInterval: option.duration('500ms'),
    /** Flush at once when this many writes of this instance wait. Default 100, as in the Go library Strata. */
    threshold: option.defaulted(positiveInt, 100),
    /** Attempts before a write goes to the dead-letter store and `onWriteError`. Default 5, as in the Go library Strata. */
    maxRetry: option.defaulted(positiveInt, 5),
  }),
  /**
   * Deferred work (L2 fills, bus publishes). `'await'` (default): the call that caused it waits for
   * it. `'track'`: the call returns at once; `strata.settled()` waits for the work — for a Strata
   * shared by concurrent requests (module scope in a Worker). A function: the host's `waitUntil`
   * (`ctx.waitUntil.bind(ctx)`) is handed each piece of work; `settled()` waits for it too.
   * @example
   * const strata = new Strata({ l2, l3, background: 'track' }); // module scope
   * // per request: ctx.waitUntil(strata.settled());
   */
  background: option.defaulted(
    check.custom<Background>(
      (v) => v === 'await' || v === 'track' || isFunction(v),
      "must be 'await', 'track' or a function (the host's waitUntil)",
    ),
    'await',
  ),
  /** This instance's name on the bus (so it skips its own messages). Default: random. */
  instanceId: option.computed(
    check.string(check.minLength(1), check.maxLength(128)),
    (id) => id ?? randomHex(8),
  ),
  /**
   * Root of every L2 key, queue and bus name. Default 'strata'. `[A-Za-z0-9_.-]`, at most one
   * `{hash tag}` (on a Redis Cluster, `{shop}` pins every key of the app to one slot), 1–64 chars.
   */
  keyPrefix: option.defaulted(
    check.string(check.pattern(/^(?=.{1,64}$)[A-Za-z0-9_.-]*(?:\{[A-Za-z0-9_.-]+\}[A-Za-z0-9_.-]*)?$/)),
    'strata',
  ),
  /**
   * How many Redis Cluster hash slots an app's keys spread over (layout C, docs/redis-cluster.md):
   * each row lives in bucket hash(schema, id) mod `buckets`, under the hash tag `{keyPrefix#b}` (the
   * keyPrefix then has no tag of its own). Default 1: the keyPrefix as it is (single Redis, Upstash).
   * Changing it moves every key. Above 1, not yet for write-behind or L2-only schemas, or the change
   * relay (INVALID_CONFIG). 1–1024.
   */
  buckets: option.defaulted(check.number(check.int, check.gte(1), check.lte(1024)), 1),
  /**
   * What more than one bucket needs (their refusals, searches over every bucket): `clusterBuckets`
   * from `@strata/core`, passed in so that a Worker (one bucket) does not bundle it; adapter-node's
   * `createStrata` passes it. `buckets` > 1 without it: INVALID_CONFIG.
   * @example new Strata({ l2, l3, buckets: 16, bucketing: clusterBuckets })
   */
  bucketing: option.optional(seamCheck<Bucketing>(SEAM_METHODS.bucketing)),
  /**
   * Time source. Default: `Date.now()` (L1 reads it once per synchronous run). A host with timers
   * may pass `timerClock` (read at most once per ms): adapter-node's `createStrata` passes `nodeClock()`.
   */
  clock: option.defaulted(seamCheck<Clock>(SEAM_METHODS.clock), systemClock),
  /**
   * Where Strata logs. Default: `warn` and `error` to `console`, each distinct event once per
   * instance (`defaultLogger`); `false`: nowhere; `consoleLogger('debug')`: everything.
   */
  logger: option.computed(
    ((value, path) => (value === false ? undefined : loggerCheck(value, path))) as check.Check<
      Logger | false
    >,
    (value): Logger => (value === false ? noopLogger : (value ?? defaultLogger())),
  ),
  /** Counters and latencies. Default: none recorded. */
  metrics: option.defaulted(seamCheck<MetricsRecorder>(SEAM_METHODS.metrics), noopMetrics),
  /**
   * Spans of every public operation and remote call. Default: none (nothing wrapped, nothing paid).
   * @example tracing: openTelemetryTracing() // from @strata/core/otel
   */
  tracing: option.defaulted(seamCheck<Tracer>(SEAM_METHODS.tracing), noopTracing),
  /**
   * Repeating timers, from a host that has them (Node): then L1 drops expired entries every
   * `l1.sweepEvery` and write-behind flushes every `writeBehind.flushInterval`. Core never starts a
   * timer on its own.
   * @example scheduler: nodeScheduler() // from @strata/adapter-node
   */
  scheduler: option.optional(seamCheck<Scheduler>(SEAM_METHODS.scheduler)),
};

/**
 * Everything a Strata instance is built from. Only the tiers you pass exist; all else has defaults
 * (`strataDefaults`).
 * @example
 * const config: StrataConfig = {
 *   l2: createUpstashL2({ url, token }),
 *   l3: createDrizzleL3(db),
 *   schemas: [playerSchema],
 *   ttl: { l1: '1m' },
 *   timeouts: { l2: '500ms' },
 * };
 * const strata = new Strata(config);
 */
// An interface (not an alias) so that messages and hovers say `StrataConfig`.
export interface StrataConfig extends option.InputOf<typeof configShape> {}

/** The config as the engine reads it: every option present, defaults filled, durations in ms. */
export interface ResolvedConfig extends option.ResolvedOf<typeof configShape> {}

/**
 * The default of every option that has one, as you would write it in a `StrataConfig`. Frozen.
 * Adapters build on them instead of restating them.
 * @example
 * strataDefaults.keyPrefix; // 'strata'
 * toMs(config.timeouts?.l3 ?? strataDefaults.timeouts.l3); // 10_000 unless set
 */
export const strataDefaults = option.defaultsOf(configShape);

const configCheck = option.shapeCheck(configShape);

/** Validates a config and fills defaults; a bad config throws INVALID_CONFIG naming the field. */
export function resolveConfig(config: StrataConfig): ResolvedConfig {
  if (typeof config === 'object' && config !== null) {
    refuseRenamedOptions(config);
    refuseOptionsOfElsewhere(config);
  }
  const issue = configCheck(config, []);
  if (issue) {
    const field = issue.keys?.[0] ?? (issue.path.join('.') || 'config');
    throw new StrataError('INVALID_CONFIG', `config.${field}: ${issue.message}`, { details: { field } });
  }
  return option.resolveShape(configShape, config);
}
