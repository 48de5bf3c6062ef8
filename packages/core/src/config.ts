import type { InvalidationBus } from './bus/types.js';
import * as check from './check/checks.js';
import type { Clock } from './clock.js';
import { systemClock } from './clock.js';
import { jsonCodec } from './codec/json-codec.js';
import type { Codec } from './codec/types.js';
import { readKeyring } from './crypto/keyring.js';
import type { KeyMaterial, KeyringOptions } from './crypto/types.js';
import { type Duration, toMs } from './duration.js';
import { StrataError } from './errors.js';
import type { EvictionPolicy } from './l1/types.js';
import type { L2Tier } from './l2/types.js';
import type { L3Tier } from './l3/types.js';
import { type Logger, noopLogger } from './observability/logger.js';
import { type MetricsRecorder, noopMetrics } from './observability/metrics.js';
import type { WriteQueue } from './queue/types.js';
import type { Scheduler } from './scheduler.js';
import type { CompiledSchema, WriteMode } from './schema/types.js';

/**
 * Everything a Strata instance is built from. Only the tiers you pass exist; all else has defaults.
 * @example
 * const config: StrataConfig = {
 *   l2: createUpstashL2({ url, token }),
 *   l3: createDrizzleL3(db),
 *   schemas: [playerSchema],
 *   defaultL1Ttl: '1m',
 *   timeouts: { l2: '500ms' },
 * };
 * const strata = new Strata(config);
 */
export interface StrataConfig {
  /** L2 implementation, e.g. `createUpstashL2({ url, token })`. Omitted: no L2. */
  l2?: L2Tier;
  /** L3 implementation, e.g. `createDrizzleL3(db)`. Omitted: no L3 (L2 is the source of truth). */
  l3?: L3Tier;
  /** Schemas to register at once (or call `register` later). */
  schemas?: readonly CompiledSchema[];
  /** Default '5m' (the seed's DefaultL1TTL). 0 = never expire. */
  defaultL1Ttl?: Duration;
  /** Default '30m' (the seed's DefaultL2TTL). 0 = never expire. */
  defaultL2Ttl?: Duration;
  defaultWriteMode?: WriteMode;
  /** L1 defaults per schema (the seed's L1Pool): max entries (total per schema, not per shard), eviction. */
  l1?: { maxEntries?: number; eviction?: EvictionPolicy; protect?: 'freeze' | 'copy'; sweepEvery?: Duration };
  /** Per-call timeouts. Defaults: L2 '1s', L3 '10s', write queue '5s' (enqueue, take, ack, …). */
  timeouts?: { l2?: Duration; l3?: Duration; queue?: Duration };
  /** L2 circuit breaker: opens after `failureThreshold` consecutive failures for `cooldown`. */
  breaker?: { failureThreshold?: number; cooldown?: Duration };
  /** Default: JSON. */
  codec?: Codec;
  /** 32-byte key (bytes, base64 or hex), or several with ids for rotation. Enables `encrypted` fields. */
  encryptionKey?: KeyMaterial | KeyringOptions;
  /** Tells other instances which L1 entries to drop after each write (see the bus implementations). */
  bus?: InvalidationBus;
  /** Pull buses (the invalidation log for Workers): read it at most this often, before a read. Default '1s'. */
  invalidationPollMs?: Duration;
  /** Where write-behind writes wait for their flush. Required by schemas with `writeMode: 'write-behind'`. */
  queue?: WriteQueue;
  /** Flush every this long (the seed's 500 ms) when the host passes a `scheduler`. */
  writeBehindFlushInterval?: Duration;
  /** Flush at once when this many writes of this instance wait (the seed's 100). */
  writeBehindFlushThreshold?: number;
  /** Attempts before a write goes to the dead-letter store and `onWriteError` (the seed's 5). */
  writeBehindMaxRetry?: number;
  /** This instance's name on the bus (so it skips its own messages). Default: random. */
  instanceId?: string;
  /** Root of every L2 key. Default 'strata'. */
  keyPrefix?: string;
  clock?: Clock;
  logger?: Logger;
  metrics?: MetricsRecorder;
  /** Hands deferred work (cache fills) to the host, e.g. `ctx.waitUntil`; without it fills are awaited. */
  waitUntil?: (work: Promise<unknown>) => void;
  /**
   * What happens to deferred work (L2 fills, bus publishes) when no `waitUntil` is set. `'await'`
   * (default): the call that caused it waits for it. `'background'`: the call returns at once and
   * the work is tracked; `strata.settled()` waits for it. For a Strata shared by concurrent requests
   * (one per Workers isolate), where `waitUntil` belongs to each request, not to the instance.
   * @example
   * const strata = new Strata({ l2, l3, deferred: 'background' }); // module scope
   * // per request: ctx.waitUntil(strata.settled());
   */
  deferred?: 'await' | 'background';
  /**
   * Repeating timers, from a host that has them (Node): then L1 drops expired entries every
   * `l1.sweepEvery` instead of only lazily on read. Core never starts a timer on its own.
   * @example scheduler: nodeScheduler() // from @strata/adapter-node
   */
  scheduler?: Scheduler;
}

export interface ResolvedConfig {
  l2: L2Tier | undefined;
  l3: L3Tier | undefined;
  defaultL1TtlMs: number;
  defaultL2TtlMs: number;
  defaultWriteMode: WriteMode;
  l1: { maxEntries: number; eviction: EvictionPolicy; protect: 'freeze' | 'copy'; sweepEveryMs: number };
  l2TimeoutMs: number;
  l3TimeoutMs: number;
  queueTimeoutMs: number;
  breaker: { failureThreshold: number; cooldownMs: number };
  codec: Codec;
  encryptionKey: KeyMaterial | KeyringOptions | undefined;
  keyPrefix: string;
  bus: InvalidationBus | undefined;
  invalidationPollMs: number;
  queue: WriteQueue | undefined;
  flushIntervalMs: number;
  flushThreshold: number;
  maxRetry: number;
  instanceId: string;
  clock: Clock;
  logger: Logger;
  metrics: MetricsRecorder;
  waitUntil: ((work: Promise<unknown>) => void) | undefined;
  deferred: 'await' | 'background';
  scheduler: Scheduler | undefined;
}

/** Every method of a seam, checked complete by the compiler: a seam method added is a method checked. */
function seamMethods<T>() {
  return <const M extends readonly (keyof T & string)[]>(
    ...methods: M & ([Exclude<keyof T, 'name' | M[number]>] extends [never] ? unknown : never)
  ) => methods;
}
const L2_METHODS = seamMethods<L2Tier>()('getMany', 'run', 'close');
const L3_METHODS = seamMethods<L3Tier>()(
  'findMany',
  'exists',
  'scan',
  'search',
  'count',
  'write',
  'nextEpoch',
  'replaceValues',
  'migrate',
  'migrationStatus',
);

const withMethods = (...methods: readonly string[]) =>
  check.custom(
    (v) =>
      typeof v === 'object' &&
      v !== null &&
      methods.every((m) => typeof (v as Record<string, unknown>)[m] === 'function'),
    `must implement ${methods.join(', ')}`,
  );
const numberOrString = check.anyOf(check.number(), check.string());
const duration: check.Check = (value, path) => {
  const type = numberOrString(value, path);
  if (type) return type;
  try {
    toMs(value as Duration);
    return undefined;
  } catch (err) {
    return { path, message: err instanceof Error ? err.message : 'invalid duration' };
  }
};
const optionalDuration = check.optional(duration);
const positiveInt = check.optional(check.number(check.int, check.gt(0)));

const configSchema = check.strictObject({
  l2: check.optional(withMethods(...L2_METHODS)),
  l3: check.optional(withMethods(...L3_METHODS)),
  schemas: check.optional(
    check.array(check.custom((v) => typeof v === 'object' && v !== null && 'primaryKey' in v)),
  ),
  defaultL1Ttl: optionalDuration,
  defaultL2Ttl: optionalDuration,
  defaultWriteMode: check.optional(check.oneOf(['write-through', 'write-through-l1-async', 'write-behind'])),
  l1: check.optional(
    check.strictObject({
      maxEntries: check.optional(check.number(check.int, check.gte(0))),
      eviction: check.optional(check.oneOf(['lru', 'lfu', 'fifo'])),
      protect: check.optional(check.oneOf(['freeze', 'copy'])),
      sweepEvery: optionalDuration,
    }),
  ),
  timeouts: check.optional(
    check.strictObject({ l2: optionalDuration, l3: optionalDuration, queue: optionalDuration }),
  ),
  breaker: check.optional(check.strictObject({ failureThreshold: positiveInt, cooldown: optionalDuration })),
  codec: check.optional(withMethods('encode', 'decode')),
  encryptionKey: check.unknown,
  keyPrefix: check.optional(check.string(check.pattern(/^[A-Za-z0-9_.-]{1,64}$/))),
  bus: check.optional(withMethods('publish', 'subscribe', 'stats', 'close')),
  invalidationPollMs: optionalDuration,
  queue: check.optional(withMethods('enqueue', 'ack', 'retry', 'deadLetter', 'pending', 'close')),
  writeBehindFlushInterval: optionalDuration,
  writeBehindFlushThreshold: positiveInt,
  writeBehindMaxRetry: positiveInt,
  instanceId: check.optional(check.string(check.minLength(1), check.maxLength(128))),
  clock: check.optional(withMethods('now')),
  logger: check.optional(withMethods('debug', 'info', 'warn', 'error')),
  metrics: check.optional(withMethods('count', 'observe')),
  waitUntil: check.optional(check.custom((v) => typeof v === 'function', 'must be a function')),
  deferred: check.optional(check.oneOf(['await', 'background'])),
  scheduler: check.optional(withMethods('every')),
});

/** Validates a config and fills defaults; a bad config throws INVALID_CONFIG naming the field. */
export function resolveConfig(config: StrataConfig): ResolvedConfig {
  const issue = configSchema(config, []);
  if (issue) {
    const field = issue.keys?.[0] ?? (issue.path.join('.') || 'config');
    throw new StrataError('INVALID_CONFIG', `config.${field}: ${issue.message}`, { details: { field } });
  }
  if (config.encryptionKey !== undefined) {
    // Throws INVALID_CONFIG (without key material in the message) for a key that is not 32 bytes.
    for (const bytes of readKeyring(config.encryptionKey).keys.values()) bytes.fill(0);
  }
  return {
    l2: config.l2,
    l3: config.l3,
    defaultL1TtlMs: toMs(config.defaultL1Ttl ?? '5m', 'defaultL1Ttl'),
    defaultL2TtlMs: toMs(config.defaultL2Ttl ?? '30m', 'defaultL2Ttl'),
    defaultWriteMode: config.defaultWriteMode ?? 'write-through',
    l1: {
      maxEntries: config.l1?.maxEntries ?? 10_000,
      eviction: config.l1?.eviction ?? 'lru',
      protect: config.l1?.protect ?? 'freeze',
      sweepEveryMs: toMs(config.l1?.sweepEvery ?? '30s', 'l1.sweepEvery'),
    },
    l2TimeoutMs: toMs(config.timeouts?.l2 ?? '1s', 'timeouts.l2'),
    l3TimeoutMs: toMs(config.timeouts?.l3 ?? '10s', 'timeouts.l3'),
    queueTimeoutMs: toMs(config.timeouts?.queue ?? '5s', 'timeouts.queue'),
    breaker: {
      failureThreshold: config.breaker?.failureThreshold ?? 5,
      cooldownMs: toMs(config.breaker?.cooldown ?? '5s', 'breaker.cooldown'),
    },
    codec: config.codec ?? jsonCodec,
    encryptionKey: config.encryptionKey,
    keyPrefix: config.keyPrefix ?? 'strata',
    bus: config.bus,
    invalidationPollMs: toMs(config.invalidationPollMs ?? '1s', 'invalidationPollMs'),
    queue: config.queue,
    flushIntervalMs: toMs(config.writeBehindFlushInterval ?? '500ms', 'writeBehindFlushInterval'),
    flushThreshold: config.writeBehindFlushThreshold ?? 100,
    maxRetry: config.writeBehindMaxRetry ?? 5,
    instanceId: config.instanceId ?? randomId(),
    clock: config.clock ?? systemClock,
    logger: config.logger ?? noopLogger,
    metrics: config.metrics ?? noopMetrics,
    waitUntil: config.waitUntil,
    deferred: config.deferred ?? 'await',
    scheduler: config.scheduler,
  };
}

function randomId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(8));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}
