import {
  createIoredisL2,
  createRedisPubSubBus,
  createRedisStreamQueue,
  type RedisStreamQueueOptions,
} from '@strata/adapter-node/redis-tcp';
import { defineSchema, Q, Strata, type StrataConfig, type WriteMode } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema, lapseWriterClaims, serviceUrls, uniqueName } from '@strata/devstack/testing';
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import type { Faults } from './deployment-faults.js';
import { type RedisLink, readyWithin, startRedisLink } from './deployment-link.js';
import type { AofRedis } from './deployment-redis.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/** The SQL default of `tag`: Strata cannot compute it client-side (it is SQL, not a literal). */
export const TAG_DEFAULT = 'sql-default';

/**
 * The items table of one tenant: `n` tells which write a row came from, `tenant` whose it is;
 * `note` is nullable (a set may leave it out: Postgres keeps the old one), `createdAt` is autoNowAdd
 * (kept on conflict), `tag` has a SQL default.
 */
export function tenantTable(pgSchemaName: string) {
  return pgSchema(pgSchemaName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    tenant: text('tenant').notNull(),
    note: text('note'),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull(),
    tag: text('tag').default(sql.raw(`'${TAG_DEFAULT}'`)),
  });
}
export type TenantTable = ReturnType<typeof tenantTable>;

/** Both apps name their schema `items`: the Strata schema name alone does not tell them apart. */
export const SCHEMA_NAME = 'items';

export function tenantSchema(table: TenantTable, writeMode: WriteMode) {
  return defineSchema({
    table,
    name: SCHEMA_NAME,
    writeMode,
    l1: { ttl: '10m' },
    fields: { createdAt: { autoNowAdd: true } },
  });
}
export type TenantSchema = ReturnType<typeof tenantSchema>;

export type Tenant = 'a' | 'b';
export type InstanceName = 'A1' | 'A2' | 'B1';
export const INSTANCES: readonly InstanceName[] = ['A1', 'A2', 'B1'];
export const tenantOf = (inst: InstanceName): Tenant => (inst === 'B1' ? 'b' : 'a');

/**
 * A write mode for every instance, or `mixed`: app A runs A1 write-behind beside A2 write-through
 * on one keyPrefix (a rolling deploy switching `writeMode`, a write-through API beside a
 * write-behind worker: one version order per app), app B write-through-l1-async.
 */
export type ModelMode = WriteMode | 'mixed';

export function instanceModes(mode: ModelMode): Record<InstanceName, WriteMode> {
  if (mode === 'mixed') return { A1: 'write-behind', A2: 'write-through', B1: 'write-through-l1-async' };
  return { A1: mode, A2: mode, B1: mode };
}

/** A row as the checks compare it (Dates as epoch ms, absent optional columns as null). */
export interface RowView {
  id: string;
  n: number;
  tenant: string;
  note: string | null;
  tag: string | null;
  createdAt: number | null;
}

export function view(row: Record<string, unknown> | null | undefined): RowView | null {
  if (!row) return null;
  const created = row.createdAt ?? row.created_at;
  return {
    id: String(row.id),
    n: Number(row.n),
    tenant: String(row.tenant),
    note: (row.note as string | null | undefined) ?? null,
    tag: (row.tag as string | null | undefined) ?? null,
    createdAt: created instanceof Date ? created.getTime() : created == null ? null : Number(created),
  };
}

/**
 * The Postgres side of the file: two tenant schemas (each with `items`), the schema both apps keep
 * Strata's own tables in (`ops`: one shared `_strata_versions`, as two apps on one database with the
 * same settings share it), and a pool to read them.
 */
export async function tenantDatabases() {
  const { databaseUrl } = serviceUrls();
  const names: Record<Tenant, string> = { a: uniqueName('model_tenant_a'), b: uniqueName('model_tenant_b') };
  const ops = uniqueName('model_ops');
  const tables = { a: tenantTable(names.a), b: tenantTable(names.b) };
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  pool.on('error', () => {});
  const db = drizzle(pool);
  for (const t of ['a', 'b'] as const) {
    await db.execute(sql.raw(`create schema if not exists "${names[t]}"`));
    await new Strata({
      l3: createDrizzleL3(db, { migrationsSchema: ops }),
      schemas: [tenantSchema(tables[t], 'write-through')],
    }).migrate();
  }
  return {
    databaseUrl,
    names,
    ops,
    tables,
    /** What Postgres holds for these ids of one tenant (raw SQL, no Strata), by id. */
    async rows(tenant: Tenant, ids: readonly string[]): Promise<Map<string, RowView>> {
      const { rows } = await pool.query(
        `select id, n, tenant, note, tag, created_at from "${names[tenant]}".items where id = any($1)`,
        [ids],
      );
      return new Map(rows.map((r: Record<string, unknown>) => [String(r.id), view(r)!]));
    },
    /**
     * Lapses the apps' claims on the tenant tables (`_strata_writers` in `ops`), as stopping them
     * would 60 s later: each deployment is new apps (keyPrefixes) on the same tables, and the next
     * one writes them once the last is closed (docs/semantics.md, "One writer per table").
     */
    lapseClaims: () => lapseWriterClaims(pool, ops),
    async cleanup() {
      for (const schema of [names.a, names.b, ops]) {
        await dropScratchSchema(pool, schema);
      }
      await pool.end();
    },
  };
}
export type TenantDatabases = Awaited<ReturnType<typeof tenantDatabases>>;

export interface Instance {
  readonly name: InstanceName;
  readonly tenant: Tenant;
  readonly strata: Strata;
  readonly schema: TenantSchema;
  /** The Redis connections this instance was given (L2, bus publisher, queue); the bus adds a subscriber. */
  readonly redis: readonly Redis[];
  readonly pool: pg.Pool;
}

export interface Deployment {
  readonly mode: ModelMode;
  /** Each app's Strata keyPrefix: the same one for both with the `shared-prefix` class. */
  readonly keyPrefix: Readonly<Record<Tenant, string>>;
  readonly instances: Readonly<Record<InstanceName, Instance>>;
  /** In front of A2's Postgres pool: the late commit reply. */
  readonly proxy: TcpProxy;
  /** With `redis-link`: A2's L2, bus and queue connections go through it (the others stay direct). */
  readonly link: RedisLink | undefined;
  /** Each instance's clock offset (ms; 0 without the `skew` class): A2 ahead, A1 behind. */
  readonly skewMs: Readonly<Record<InstanceName, number>>;
  /** A new instance of `tenant`'s app (empty L1, no bus): reads come from L2, then Postgres. */
  fresh(tenant: Tenant): Promise<{ strata: Strata; schema: TenantSchema; close(): Promise<void> }>;
  /** Resolves once every Redis connection of every instance is ready again (after a restart). */
  redisReady(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** With `skew`: A2's clock runs this far ahead and A1's this far behind (A2 and A1 17 s apart). */
const SKEW_AHEAD_MS = 10_000;
const SKEW_BEHIND_MS = 7_000;
/** Every instance's L2 timeout (`timeouts.l2`). */
export const L2_TIMEOUT_MS = 2_000;
/**
 * A2's L2 timeout with `redis-link`: a cut costs the model this long (A2's refused write), so it is
 * shorter than the others' to keep the run time (still far above a loopback script's few ms).
 */
export const LINK_L2_TIMEOUT_MS = 750;
/**
 * A2's reconnect delay while its link is cut: past its L2 timeout plus A1's write of the same key,
 * so a script held in ioredis' offline queue would still be there when the link comes back.
 */
export const LINK_HELD_MS = LINK_L2_TIMEOUT_MS + 400;

function redisClient(url: string): Redis {
  // Reconnects on its own (ioredis' default backoff); commands fail at once while disconnected
  // rather than queueing, as the adapters' own connections do.
  const c = new Redis(url, { maxRetriesPerRequest: 0, protocol: 2 } as never);
  c.on('error', () => {});
  return c;
}

/**
 * Two apps on one Redis, with the SAME Strata schema name and the SAME keyPrefix: app A (A1, A2)
 * over tenant A's table, app B (B1) over tenant B's. Every instance has its own pg pool and Redis
 * connections (L2, pub/sub bus, Redis Stream write queue). A2's Postgres goes through a TCP proxy;
 * with `skew`, A2's clock is 10 s ahead. No scheduler: flushes happen only on `flushDirty()`.
 */
export async function deploy(
  mode: ModelMode,
  faults: Faults,
  redis: AofRedis,
  dbs: TenantDatabases,
): Promise<Deployment> {
  // The hostile case: both apps leave the defaults, so they share the keyPrefix (and bus channel).
  // Without `shared-prefix`, app B is configured apart: its own keyPrefix and bus channel.
  const shared = faults.has('shared-prefix');
  const prefixA = uniqueName('model');
  const keyPrefix: Record<Tenant, string> = { a: prefixA, b: shared ? prefixA : `${prefixA}_b` };
  const proxy = await startTcpProxy(5432);
  const skewed = faults.has('skew');
  const skewMs: Record<InstanceName, number> = {
    A1: skewed ? -SKEW_BEHIND_MS : 0,
    A2: skewed ? SKEW_AHEAD_MS : 0,
    B1: 0,
  };
  const modes = instanceModes(mode);
  const schemaOf = (name: InstanceName) => tenantSchema(dbs.tables[tenantOf(name)], modes[name]);
  const schemas: Record<InstanceName, TenantSchema> = {
    A1: schemaOf('A1'),
    A2: schemaOf('A2'),
    B1: schemaOf('B1'),
  };
  /** A fresh instance of an app has its first instance's schema (A1's: write-behind in `mixed`). */
  const freshSchema: Record<Tenant, TenantSchema> = { a: schemas.A1, b: schemas.B1 };
  const sharedQueue = faults.has('shared-queue');
  const opened: Redis[] = [];
  const link = faults.has('redis-link') ? await startRedisLink(redis.port, LINK_HELD_MS) : undefined;

  const config = (
    tenant: Tenant,
    schema: TenantSchema,
    inst: string,
    pool: pg.Pool,
    clients: Redis[],
  ): StrataConfig => {
    const [l2, bus, queue] = clients as [Redis, Redis, Redis];
    const prefix = keyPrefix[tenant];
    const queueOptions = {
      redis: queue,
      // The app's Strata keyPrefix, for the queue to namespace its stream and group by (the option
      // the lead adds; today's queue ignores it, hence the cast).
      keyPrefix: prefix,
      // Without `shared-queue`, app B names a stream and group of its own; with it, both apps leave
      // them to the queue (today: the one default stream and group).
      ...(!sharedQueue && tenant === 'b' && { stream: `${prefix}:b:writes`, group: `${prefix}-b` }),
    } as RedisStreamQueueOptions;
    return {
      l2: createIoredisL2(l2),
      l3: createDrizzleL3(drizzle(pool), { migrationsSchema: dbs.ops }),
      coherence: {
        bus: createRedisPubSubBus({
          redis: bus,
          ...(!shared && tenant === 'b' && { channel: `${prefix}:invalidate` }),
        }),
      },
      // threshold: flushes only when the model asks for them
      writeBehind: { queue: createRedisStreamQueue(queueOptions), threshold: 1_000_000 },
      keyPrefix: prefix,
      schemas: [schema],
      ttl: { l1: '10m' }, // coherence must come from the bus, not from short TTLs
      timeouts: { l2: L2_TIMEOUT_MS, l3: '10s', queue: '5s' },
      instanceId: `${prefix}-${inst}`,
    };
  };

  const make = (name: InstanceName): Instance => {
    const tenant = tenantOf(name);
    const url = name === 'A2' ? proxy.url(dbs.databaseUrl) : dbs.databaseUrl;
    const pool = new pg.Pool({ connectionString: url, max: 4 });
    pool.on('error', () => {});
    const client = () => (name === 'A2' && link ? link.client(redis.url) : redisClient(redis.url));
    const clients = [client(), client(), client()];
    opened.push(...clients);
    const strata = new Strata({
      ...config(tenant, schemas[name], name, pool, clients),
      ...(skewMs[name] !== 0 && { clock: { now: () => Date.now() + skewMs[name] } }),
      ...(name === 'A2' && link && { timeouts: { l2: LINK_L2_TIMEOUT_MS, l3: '10s', queue: '5s' } }),
    });
    return { name, tenant, strata, schema: schemas[name], redis: clients, pool };
  };
  const instances = { A1: make('A1'), A2: make('A2'), B1: make('B1') };
  // Every instance subscribed before the first write (a read waits for the subscription).
  await Promise.all(Object.values(instances).map((inst) => inst.strata.find(inst.schema, '__warm_up__')));

  return {
    mode,
    keyPrefix,
    instances,
    proxy,
    link,
    skewMs,
    async fresh(tenant) {
      const pool = new pg.Pool({ connectionString: dbs.databaseUrl, max: 2 });
      pool.on('error', () => {});
      const clients = [redisClient(redis.url), redisClient(redis.url), redisClient(redis.url)];
      const { coherence: _coherence, ...rest } = config(
        tenant,
        freshSchema[tenant],
        `fresh-${tenant}`,
        pool,
        clients,
      );
      const strata = new Strata(rest);
      return {
        strata,
        schema: freshSchema[tenant],
        async close() {
          await strata.close().catch(() => undefined);
          for (const c of clients) c.disconnect();
          await pool.end();
        },
      };
    },
    async redisReady(ms) {
      await Promise.all(opened.map((c) => readyWithin(c, ms)));
    },
    async close() {
      proxy.resume();
      await Promise.allSettled(Object.values(instances).map((i) => i.strata.close()));
      for (const c of opened) c.disconnect();
      await Promise.allSettled(Object.values(instances).map((i) => i.pool.end()));
      await proxy.close();
      await link?.close();
    },
  };
}

/** The query of `searchCached`: every row of this run, ordered by id. */
export function runQuery(idPrefix: string) {
  return Q().where('id LIKE $1', `${idPrefix}%`).orderBy('id').build();
}
