import { createIoredisL2, createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import {
  defineSchema,
  type InvalidationBus,
  type L2Tier,
  type Logger,
  type SchemaDefinition,
  Strata,
  type StrataConfig,
} from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { createUpstashL2 } from '@strata/core/upstash';
import { dropScratchSchema, serviceUrls, testDevstack, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { Redis as IORedis } from 'ioredis';
import pg from 'pg';

/** A fixed test key (32 bytes) and its textual forms, so the secrets tests can look for them. */
export function testKey(seed: number): Uint8Array {
  return Uint8Array.from({ length: 32 }, (_, i) => (seed * 37 + i * 11 + 5) & 0xff);
}

/** Every textual form in which a key could leak. */
export function keyForms(key: Uint8Array): string[] {
  const b64 = Buffer.from(key).toString('base64');
  return [
    Buffer.from(key).toString('hex'),
    Buffer.from(key).toString('hex').toUpperCase(),
    b64,
    b64.replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''),
    Array.from(key).join(','),
  ];
}

/** The tables of the reliability tests: one with an encrypted field, in their own Postgres schema. */
export function reliabilityTables(pgSchemaName: string) {
  const s = pgSchema(pgSchemaName);
  const accounts = s.table('accounts', {
    id: text('id').primaryKey(),
    name: text('name').notNull(),
    level: integer('level').notNull().default(0),
    email: text('email'),
    note: text('note'),
    touchedAt: timestamp('touched_at', { withTimezone: true, mode: 'date' }),
  });
  return { accounts };
}

export type L2Kind = 'ioredis' | 'upstash';

/**
 * Real tiers for one test file: Redis (ioredis TCP or the devstack's Upstash REST) as L2 under a
 * unique key prefix, node-postgres as L3 in a unique Postgres schema, a raw Redis connection and
 * pg pool to look at what the tiers really hold, and snapshots of both for "nothing changed" checks.
 */
export async function tierStack(label: string, l2Kind: L2Kind = 'ioredis') {
  const name = uniqueName(label);
  const { redisUrl, databaseUrl } = serviceUrls();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 8 });
  pool.on('error', () => {});
  const db = drizzle(pool);
  const l3 = createDrizzleL3(db, { migrationsSchema: name });
  const tables = reliabilityTables(name);
  const redis = new IORedis(redisUrl, { protocol: 2, maxRetriesPerRequest: 1 } as never);
  redis.on('error', () => {});
  const opened: { close(): Promise<void> }[] = [];
  const l2 = (): L2Tier => {
    if (l2Kind === 'upstash') {
      const upstash = testDevstack().upstash;
      if (!upstash) throw new Error('the devstack has no Upstash endpoint');
      return createUpstashL2({ url: upstash.url, token: upstash.token });
    }
    const tier = createIoredisL2(redisUrl);
    opened.push(tier);
    return tier;
  };
  const channel = `${name}:bus`;
  const bus = (): InvalidationBus => createRedisPubSubBus({ url: redisUrl, channel });
  /** The accounts schema with `email` encrypted (plus whatever `extra` says). */
  const schemaOf = (extra: Omit<SchemaDefinition<typeof tables.accounts>, 'table'> = {}) =>
    defineSchema({
      table: tables.accounts,
      l1: { ttl: '10m', maxEntries: 1_000 },
      ...extra,
      fields: { email: { encrypted: true }, ...extra.fields },
    });
  const strata = (config: StrataConfig = {}) =>
    new Strata({ l2: l2(), l3, keyPrefix: name, l1: { maxEntries: 1_000 }, ...config });

  // The table exists before any test (migrate needs no L2 and no key).
  await new Strata({ l3, schemas: [defineSchema({ table: tables.accounts })] }).migrate();

  return {
    name,
    l3,
    db,
    pool,
    redis,
    tables,
    channel,
    l2,
    bus,
    schemaOf,
    strata,
    /**
     * Every L2 key under this file's prefix with its value (and TTL presence), sorted; not the
     * app's tick, which every script moves (even a read of the generation) and which holds no data.
     */
    async l2Snapshot(): Promise<Record<string, string | null>> {
      const keys: string[] = [];
      let cursor = '0';
      do {
        const [next, batch] = await redis.scan(cursor, 'MATCH', `${name}:*`, 'COUNT', 1000);
        cursor = next;
        keys.push(...batch.filter((key) => key !== `${name}:tick`));
      } while (cursor !== '0');
      keys.sort();
      const out: Record<string, string | null> = {};
      if (keys.length === 0) return out;
      const pipeline = redis.pipeline();
      for (const key of keys) pipeline.type(key).get(key);
      const replies = (await pipeline.exec()) ?? [];
      keys.forEach((key, i) => {
        const type = replies[2 * i]?.[1];
        out[key] = type === 'string' ? (replies[2 * i + 1]?.[1] as string | null) : `<${String(type)}>`;
      });
      return out;
    },
    /** Every row of the accounts table, as Postgres holds it (raw SQL, no codec), by id. */
    async l3Snapshot(): Promise<Record<string, unknown>[]> {
      const { rows } = await pool.query(`select * from "${name}"."accounts" order by id collate "C"`);
      return rows as Record<string, unknown>[];
    },
    async cleanup() {
      await Promise.allSettled(opened.map((t) => t.close()));
      await dropScratchSchema(pool, name);
      const keys = await redis.keys(`${name}:*`);
      if (keys.length > 0) await redis.del(...keys);
      redis.disconnect();
      await pool.end();
    },
  };
}

export type TierStack = Awaited<ReturnType<typeof tierStack>>;

/** A logger that keeps every line (message and fields, as JSON) for the secrets scans. */
export function capturingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      lines.push(`${level} ${message} ${safeJson(fields)}`);
    };
  return { lines, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_, v: unknown) => (typeof v === 'bigint' ? `${v}n` : v)) ?? '';
  } catch {
    return String(value);
  }
}

/** Everything an error exposes: String, JSON, message, stack, details, and the cause chain. */
export function exposedText(err: unknown): string {
  const parts: string[] = [];
  let current: unknown = err;
  for (let depth = 0; current !== undefined && current !== null && depth < 6; depth++) {
    parts.push(String(current), safeJson(current));
    if (current instanceof Error) {
      parts.push(current.message, current.stack ?? '', safeJson((current as { details?: unknown }).details));
      current = current.cause;
    } else {
      current = undefined;
    }
  }
  return parts.join('\n');
}

/** Rejects when `work` does not settle within `ms`; counts it as a hang in `tally`. */
export async function bounded<T>(work: Promise<T>, ms: number, tally: { hangs: number }): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      tally.hangs += 1;
      reject(new Error(`did not settle within ${ms} ms`));
    }, ms);
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
