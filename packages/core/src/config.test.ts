import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import type { InvalidationBus } from './bus/types.js';
import { changeRelay } from './capture/change-relay.js';
import { type Clock, systemClock } from './clock.js';
import { jsonCodec } from './codec/json-codec.js';
import type { Codec } from './codec/types.js';
import { RENAMED_OPTIONS } from './config/renamed-options.js';
import { SEAM_METHODS } from './config/seam-checks.js';
import { resolveConfig, type StrataConfig, strataDefaults } from './config.js';
import { createDrizzleL3 } from './drizzle/index.js';
import { isStrataError } from './errors.js';
import type { L2Tier } from './l2/types.js';
import type { L3Tier } from './l3/types.js';
import { consoleLogger, type Logger } from './observability/logger.js';
import { type MetricsRecorder, noopMetrics } from './observability/metrics.js';
import { noopTracing, type Tracer } from './observability/tracing.js';
import { createMemoryQueue } from './queue/memory-queue.js';
import type { WriteQueue } from './queue/types.js';
import type { Scheduler } from './scheduler.js';
import { createUpstashL2, createUpstashLogBus } from './upstash/index.js';

function configError(config: unknown): { message: string; field: unknown } {
  try {
    resolveConfig(config as StrataConfig);
  } catch (err) {
    if (!isStrataError(err, 'INVALID_CONFIG')) throw err;
    return { message: err.message, field: err.details?.field };
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('resolveConfig', () => {
  it('fills every default from strataDefaults, durations in ms', () => {
    const resolved = resolveConfig({});
    expect(resolved.ttl).toEqual({ l1: 300_000, l2: 1_800_000 });
    expect(resolved.timeouts).toEqual({ l2: 1_000, l3: 10_000, queue: 5_000 });
    expect(resolved.breaker).toEqual({ failureThreshold: 5, cooldown: 5_000 });
    expect(resolved.coherence).toEqual({ bus: undefined, pollInterval: 1_000 });
    expect(resolved.capture).toEqual({ source: undefined, relay: undefined });
    expect(resolved.encryption).toEqual({ legacy: 'accept' });
    expect(resolved.writeBehind).toEqual({
      queue: undefined,
      flushInterval: 500,
      threshold: 100,
      maxRetry: 5,
    });
    expect(resolved.l1).toEqual({
      maxEntries: 10_000,
      eviction: 'sieve',
      protect: 'freeze',
      sweepEvery: 30_000,
    });
    expect(resolved).toMatchObject({
      defaultWriteMode: 'write-through',
      background: 'await',
      keyPrefix: 'strata',
      codec: jsonCodec,
      clock: systemClock,
    });
    expect(resolved.instanceId).toMatch(/^[0-9a-f]{16}$/);
  });

  it('takes a group given in part, defaults for the rest', () => {
    const resolved = resolveConfig({ ttl: { l1: '1m' }, writeBehind: { threshold: 7 } });
    expect(resolved.ttl).toEqual({ l1: 60_000, l2: 1_800_000 });
    expect(resolved.writeBehind).toMatchObject({ threshold: 7, maxRetry: 5, flushInterval: 500 });
  });

  it('names the nested field of a bad value', () => {
    expect(configError({ ttl: { l1: 'soon' } }).field).toBe('ttl.l1');
    expect(configError({ coherence: { pollInterval: -1 } }).field).toBe('coherence.pollInterval');
    expect(configError({ writeBehind: { colour: 1 } }).field).toBe('colour');
    expect(configError({ background: 'later' }).message).toContain('config.background');
    expect(configError({ encryption: { legacy: 'reject' } }).field).toBe('encryption.legacy');
    expect(resolveConfig({ encryption: { legacy: 'write' } }).encryption).toEqual({ legacy: 'write' });
  });

  it('capture.relay: off by default, or a plan made by changeRelay (every second, a day of log by default)', () => {
    expect(resolveConfig({}).capture.relay).toBeUndefined();
    const plan = changeRelay();
    expect(resolveConfig({ capture: { relay: plan } }).capture.relay).toBe(plan);
    expect(plan).toMatchObject({ intervalMs: 1_000, retentionMs: 86_400_000 });
    expect(changeRelay({ interval: '250ms', retention: '2h' })).toMatchObject({
      intervalMs: 250,
      retentionMs: 7_200_000,
    });
    expect(() => changeRelay({ interval: -1 })).toThrow(/capture\.relay\.interval/);
    // No busy loops: not 0 (polls without pause), not past the largest timer (Node fires it at once).
    for (const interval of [0, '0s', '5ms', '25d', '1000000d'] as const)
      expect(() => changeRelay({ interval, retention: '3000d' }), String(interval)).toThrow(
        /capture\.relay\.interval: .* is out of range/,
      );
    expect(changeRelay({ interval: '10ms' }).intervalMs).toBe(10);
    expect(changeRelay({ interval: '24d', retention: '30d' }).intervalMs).toBe(24 * 86_400_000);
    // A log pruned before it is read is a gap at every read.
    for (const retention of [0, '30s'] as const)
      expect(() => changeRelay({ retention }), String(retention)).toThrow(
        /capture\.relay\.retention: .* is out of range/,
      );
    expect(() => changeRelay({ interval: '2h', retention: '1h' })).toThrow(/capture\.relay\.retention/);
    expect(() => changeRelay({ retention: 'soon' as never })).toThrow(/capture\.relay\.retention/);
    expect(configError({ capture: { relay: true as never } }).field).toBe('capture.relay');
    expect(configError({ capture: { relay: { interval: 1 } as never } }).field).toBe('capture.relay');
    expect(configError({ capture: { source: {} as never } }).field).toBe('capture.source');
  });

  it('accepts a function as background (the host waitUntil)', () => {
    const waitUntil = (_work: Promise<unknown>) => {};
    expect(resolveConfig({ background: waitUntil }).background).toBe(waitUntil);
    expect(resolveConfig({ background: 'track' }).background).toBe('track');
  });
});

describe('strataDefaults', () => {
  it('is frozen, groups included, and holds what resolveConfig fills', () => {
    expect(Object.isFrozen(strataDefaults)).toBe(true);
    expect(Object.isFrozen(strataDefaults.timeouts)).toBe(true);
    expect(strataDefaults).toMatchObject({
      keyPrefix: 'strata',
      ttl: { l1: '5m', l2: '30m' },
      timeouts: { l2: '1s', l3: '10s', queue: '5s' },
      coherence: { pollInterval: '1s' },
      writeBehind: { flushInterval: '500ms', threshold: 100, maxRetry: 5 },
      background: 'await',
    });
    expect('instanceId' in strataDefaults).toBe(false);
    expect('l2' in strataDefaults).toBe(false);
  });
});

describe('renamed options', () => {
  it.each(Object.entries(RENAMED_OPTIONS))('config.%s is refused, naming its new place', (old, now) => {
    const { message, field } = configError({ [old]: undefined });
    expect(message).toContain(`config.${old} was renamed: use ${now}`);
    expect(field).toBe(old);
  });

  it('names the option a key misspelt only in case meant', () => {
    expect(configError({ keyprefix: 'app' }).message).toContain(
      'Unrecognized key: "keyprefix" (did you mean "keyPrefix"?)',
    );
    expect(configError({ keyPrefx: 'app' }).message).toContain('Unrecognized key: "keyPrefx"');
  });

  it('says where the old TTL options went', () => {
    expect(configError({ defaultL1Ttl: '1m' }).message).toContain(
      'config.defaultL1Ttl was renamed: use ttl.l1',
    );
    expect(configError({ invalidationPollMs: 50 }).message).toContain('use coherence.pollInterval');
  });

  it("points the Go library's names, camel-cased as written there (DefaultL1TTL), to their place", () => {
    expect(configError({ defaultL1TTL: '1m' })).toEqual({
      message: expect.stringContaining('config.defaultL1TTL was renamed: use ttl.l1'),
      field: 'defaultL1TTL',
    });
    expect(configError({ defaultL2TTL: '1h' }).message).toContain(
      'config.defaultL2TTL was renamed: use ttl.l2',
    );
  });
});

describe("options of the adapters' createStrata, or of the Go library's Config, given to new Strata", () => {
  it('says that new Strata takes built tiers, and which factory takes the option', () => {
    expect(configError({ redisUrl: 'redis://127.0.0.1:6379' })).toEqual({
      message:
        'strata: config.redisUrl is an option of createStrata (@strata/adapter-node): new Strata takes built tiers (l2, l3)',
      field: 'redisUrl',
    });
    expect(configError({ databaseUrl: 'postgres://x' }).message).toContain(
      'config.databaseUrl is an option of createStrata (@strata/adapter-node)',
    );
    expect(configError({ allowVolatileQueue: true }).message).toContain(
      'createStrata (@strata/adapter-node)',
    );
    expect(configError({ migrationsSchema: 'app' }).message).toBe(
      'strata: config.migrationsSchema is an option of createDrizzleL3(db, { migrationsSchema }) or createStrata',
    );
  });

  it("names the place of the Go library's connection options, in its spelling too", () => {
    expect(configError({ PostgresDSN: 'postgres://x' })).toEqual({
      message:
        "strata: config.PostgresDSN is the Go library's: give databaseUrl to createStrata (@strata/adapter-node)",
      field: 'PostgresDSN',
    });
    expect(configError({ redisAddr: '127.0.0.1:6379' }).message).toContain(
      "config.redisAddr is the Go library's: give redisUrl to createStrata",
    );
    expect(configError({ RedisDB: 2 }).field).toBe('RedisDB');
    // An inherited name is no option: `constructor` is "Unrecognized key", as before.
    expect(configError({ constructor: 1 }).message).toContain('Unrecognized key: "constructor"');
  });
});

// Real implementations of each seam in the config. The method lists (SEAM_METHODS) are complete by
// the compiler (seamMethods rejects a list missing a method of the seam type); removing any one
// method from an implementation must be refused at construction, naming the field.
const upstash = { url: 'http://127.0.0.1:9', token: 'unused' };
const seams: {
  field: string;
  config: (impl: object) => StrataConfig;
  impl: object;
  methods: readonly string[];
}[] = [
  {
    field: 'l2',
    config: (l2) => ({ l2: l2 as L2Tier }),
    impl: createUpstashL2(upstash),
    methods: SEAM_METHODS.l2,
  },
  {
    field: 'l3',
    config: (l3) => ({ l3: l3 as L3Tier }),
    impl: createDrizzleL3(drizzle(new pg.Pool({ max: 1 }))),
    methods: SEAM_METHODS.l3,
  },
  {
    field: 'coherence.bus',
    config: (bus) => ({ coherence: { bus: bus as InvalidationBus } }),
    impl: createUpstashLogBus(upstash),
    methods: SEAM_METHODS.bus,
  },
  {
    field: 'writeBehind.queue',
    config: (queue) => ({ writeBehind: { queue: queue as WriteQueue } }),
    impl: createMemoryQueue(),
    methods: SEAM_METHODS.queue,
  },
  {
    field: 'codec',
    config: (codec) => ({ codec: codec as Codec }),
    impl: jsonCodec,
    methods: SEAM_METHODS.codec,
  },
  {
    field: 'clock',
    config: (clock) => ({ clock: clock as Clock }),
    impl: systemClock,
    methods: SEAM_METHODS.clock,
  },
  {
    field: 'logger',
    config: (logger) => ({ logger: logger as Logger }),
    impl: consoleLogger(),
    methods: SEAM_METHODS.logger,
  },
  {
    field: 'metrics',
    config: (metrics) => ({ metrics: metrics as MetricsRecorder }),
    impl: noopMetrics,
    methods: SEAM_METHODS.metrics,
  },
  {
    field: 'tracing',
    config: (tracing) => ({ tracing: tracing as Tracer }),
    impl: noopTracing,
    methods: SEAM_METHODS.tracing,
  },
  {
    field: 'scheduler',
    config: (scheduler) => ({ scheduler: scheduler as Scheduler }),
    impl: { every: () => () => {} } satisfies Scheduler,
    methods: SEAM_METHODS.scheduler,
  },
];

/** `impl` with `method` shadowed by undefined (its other methods still reachable through the prototype). */
const without = (impl: object, method: string): object =>
  Object.defineProperty(Object.create(impl), method, { value: undefined, enumerable: true });

describe('seam checks', () => {
  it.each(seams)('accepts a real $field', ({ config, impl }) => {
    expect(() => resolveConfig(config(impl))).not.toThrow();
  });

  it.each(seams.flatMap((seam) => seam.methods.map((method) => ({ ...seam, method }))))(
    'refuses a $field without $method, naming the field',
    ({ field, config, impl, method }) => {
      const { message } = configError(config(without(impl, method)));
      expect(message).toContain(`config.${field}: must implement ${method}`);
    },
  );
});
