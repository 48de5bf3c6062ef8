import { createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { clusterBuckets, defineSchema, Strata, type StrataConfig } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema, lapseWriterClaims, serviceUrls } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { readyWithin } from './deployment-link.js';
import type { AofRedis } from './deployment-redis.js';
import { reusableHeldL3 } from './held-l3.js';
import { linkOf, type Transport } from './twoapps-transport.js';

// Two apps on ONE Redis (same db) and ONE pub/sub channel, each with its own keyPrefix (one the
// prefix of the other's, `x` and `x.b` or `x2`), each over a Postgres schema of its own holding
// tables of the SAME names (`wb`: write-behind, `wt`: write-through) under the SAME Strata schema
// names. Every row carries its app (`app`), so a row of the other app is told at once.

export type App = 'a' | 'b';
export const APPS: readonly App[] = ['a', 'b'];
export type TableName = 'wb' | 'wt';
export const TABLES: readonly TableName[] = ['wb', 'wt'];
/** The literal default of `tag`: a write leaving it out names it in the pending index (`+{row key}`). */
export const TAG_DEFAULT = 'dflt';

const columns = {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
  app: text('app').notNull(),
  note: text('note'),
  tag: text('tag').notNull().default(TAG_DEFAULT),
};

/** `name` in Postgres schema `pgSchemaName`; undefined: unqualified (found by the session's search_path). */
export function appTable(pgSchemaName: string | undefined, name: TableName) {
  return pgSchemaName === undefined ? pgTable(name, columns) : pgSchema(pgSchemaName).table(name, columns);
}

/** A row's tags (`extras`): its key's index, the same tag names in both apps (`k0`…). */
export const tagOf = (id: string) => `k${id.slice(-1)}`;

/**
 * `extras`: tags, a short L2 TTL that lapses within a run (400 ms; L1 200 ms on `wb`, 10 min on
 * `wt` so that only the bus refreshes another instance's copy after `invalidateTags`) and a stale
 * window (`expire` leaves the row for a stale read that refreshes it). `queued`: `wb` is
 * write-behind (write-through with buckets > 1: write-behind is refused there).
 */
function schemasOf(pgSchemaName: string | undefined, extras: boolean, queued: boolean) {
  const more = (l1: '200ms' | '10m') =>
    extras
      ? {
          tags: (row: { id: string }) => [tagOf(row.id)],
          l1: { ttl: l1 },
          l2: { ttl: '400ms' as const },
          stale: '10m' as const,
        }
      : { l1: { ttl: '10m' as const } };
  return {
    wb: defineSchema({
      table: appTable(pgSchemaName, 'wb'),
      name: 'wb',
      ...(queued && { writeMode: 'write-behind' as const }),
      ...more('200ms'),
    }),
    wt: defineSchema({ table: appTable(pgSchemaName, 'wt'), name: 'wt', ...more('10m') }),
  };
}
export type AppSchemas = ReturnType<typeof schemasOf>;

/** A row as compared (Postgres' and every tier's). */
export interface Row {
  id: string;
  n: number;
  app: string;
  note: string | null;
  tag: string;
}
export const rowOf = (r: Record<string, unknown> | null | undefined): Row | null =>
  r
    ? {
        id: String(r.id),
        n: Number(r.n),
        app: String(r.app),
        note: (r.note as string | null) ?? null,
        tag: String(r.tag),
      }
    : null;

export interface Instance {
  readonly name: string;
  readonly app: App;
  readonly strata: Strata;
  readonly schemas: AppSchemas;
  /** Its L3, whose next write's reply can be held (a late commit reply). */
  readonly held: ReturnType<typeof reusableHeldL3>;
}

export interface TwoApps {
  readonly keyPrefix: Readonly<Record<App, string>>;
  readonly pgSchema: Readonly<Record<App, string>>;
  readonly instances: readonly Instance[];
  readonly schemas: Readonly<Record<App, AppSchemas>>;
  /** Whether `table` queues its writes (write-behind). */
  queued(table: TableName): boolean;
  /** Sets `n` of `id` in `app`'s `table` by SQL, behind Strata's back (then `invalidateTags`). */
  pgUpdate(app: App, table: TableName, id: string, n: number): Promise<void>;
  /** A new instance of `app` (empty L1, no bus): reads come from L2, then Postgres. */
  fresh(app: App): Promise<Instance & { close(): Promise<void> }>;
  /** What Postgres holds in `app`'s `table` (raw SQL), by id. */
  pgRows(app: App, table: TableName): Promise<Map<string, Row>>;
  /** Every Redis connection ready again, and every bus subscribed again (after a restart). */
  redisBack(gapsBefore: readonly number[], ms: number): Promise<void>;
  gaps(): number[];
  close(): Promise<void>;
}

function client(url: string): Redis {
  const c = new Redis(url, { maxRetriesPerRequest: 0, protocol: 2 } as never);
  c.on('error', () => {});
  return c;
}

export interface TwoAppsNames {
  keyPrefix: Record<App, string>;
  pgSchema: Record<App, string>;
  /** Where both apps keep Strata's own tables (one `_strata_versions`, …). */
  ops: string;
  channel: string;
  /**
   * Unqualified tables, each app's pool on its schema by search_path (schema-per-tenant): both
   * tables' identity is then the bare table name. Strata's own tables go in each app's schema.
   */
  searchPath?: boolean;
  /** Tags, TTLs and a stale window on both tables (see schemasOf). */
  extras?: boolean;
  /** Redis Cluster buckets (layout C) on the one Redis; above 1, `wb` is write-through. */
  buckets?: number;
  /** L2 and bus over TCP (default) or the devstack's Upstash endpoint. */
  transport?: Transport;
}

/**
 * Creates both apps' Postgres schemas (names unique to the run: `uniqueName`) and
 * `perApp` instances of each, every one with its own pg pool and Redis connections.
 */
export async function twoApps(redis: AofRedis, names: TwoAppsNames, perApp: number): Promise<TwoApps> {
  const { databaseUrl } = serviceUrls();
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 2 });
  admin.on('error', () => {});
  const qualified = (app: App) => (names.searchPath ? undefined : names.pgSchema[app]);
  const buckets = names.buckets ?? 1;
  const queued = buckets === 1;
  const extras = names.extras ?? false;
  const schemas = {
    a: schemasOf(qualified('a'), extras, queued),
    b: schemasOf(qualified('b'), extras, queued),
  };
  const link = await linkOf(names.transport ?? 'tcp', redis.url);
  const pools: pg.Pool[] = [];
  const l3Of = (app: App, max: number) => {
    const pool = new pg.Pool({
      connectionString: databaseUrl,
      max,
      ...(names.searchPath && { options: `-c search_path=${names.pgSchema[app]}` }),
    });
    pool.on('error', () => {});
    pools.push(pool);
    return createDrizzleL3(drizzle(pool), names.searchPath ? {} : { migrationsSchema: names.ops });
  };
  for (const app of APPS) {
    await admin.query(`create schema "${names.pgSchema[app]}"`);
    await new Strata({
      l3: l3Of(app, 1),
      // Migrated as write-through (no queue here): the tables are the same.
      schemas: TABLES.map((t) => defineSchema({ table: appTable(qualified(app), t), name: t })),
    }).migrate();
  }
  const opened: Redis[] = [];
  const config = (app: App, id: string, bus: boolean, l3 = l3Of(app, 3)): StrataConfig => {
    const [l2, pub, queue] = [client(redis.url), client(redis.url), client(redis.url)];
    opened.push(l2, pub, queue);
    const keyPrefix = names.keyPrefix[app];
    return {
      l2: link.l2(l2),
      l3,
      ...(bus && {
        coherence: {
          bus: link.bus(pub, names.channel),
          ...(link.pollInterval && { pollInterval: link.pollInterval }),
        },
      }),
      ...(buckets > 1 && { buckets, bucketing: clusterBuckets }),
      // Each app's queue by its keyPrefix (`{keyPrefix}:writes`); flushes only when asked.
      writeBehind: { queue: createRedisStreamQueue({ redis: queue, keyPrefix }), threshold: 1_000_000 },
      keyPrefix,
      schemas: [schemas[app].wb, schemas[app].wt],
      timeouts: { l2: 2_000, l3: '10s', queue: '5s' },
      instanceId: id,
    };
  };
  const instances: Instance[] = [];
  for (const app of APPS)
    for (let i = 1; i <= perApp; i++) {
      // The same instance ids in both apps (a host name, say): the bus origin alone tells them apart.
      const held = reusableHeldL3(l3Of(app, 3));
      const strata = new Strata(config(app, `inst${i}`, true, held.l3));
      instances.push({ name: `${app.toUpperCase()}${i}`, app, strata, schemas: schemas[app], held });
    }
  for (const inst of instances) await inst.strata.find(inst.schemas.wb, '__warm_up__');
  const gaps = () => instances.map((i) => i.strata.stats().busGaps);
  return {
    keyPrefix: names.keyPrefix,
    pgSchema: names.pgSchema,
    instances,
    schemas,
    async fresh(app) {
      const held = reusableHeldL3(l3Of(app, 3));
      const strata = new Strata(config(app, `fresh-${app}`, false, held.l3));
      return { name: `fresh-${app}`, app, strata, schemas: schemas[app], held, close: () => strata.close() };
    },
    queued: (table) => queued && table === 'wb',
    async pgUpdate(app, table, id, n) {
      const { rowCount } = await admin.query(
        `update "${names.pgSchema[app]}"."${table}" set n = $2 where id = $1`,
        [id, n],
      );
      // Only rows the model holds acknowledged: Postgres must have it.
      if (rowCount !== 1) throw new Error(`Postgres of ${app} has no ${table}/${id} to update`);
    },
    async pgRows(app, table) {
      const { rows } = await admin.query(
        `select id, n, app, note, tag from "${names.pgSchema[app]}"."${table}"`,
      );
      return new Map(rows.map((r: Record<string, unknown>) => [String(r.id), rowOf(r)!]));
    },
    gaps,
    async redisBack(before, ms) {
      await Promise.all(opened.map((c) => readyWithin(c, ms)));
      // A polled log bus has no subscription to lose: its next poll reads on (a gap if the log went).
      if (link.pollInterval !== undefined) return;
      const deadline = Date.now() + ms;
      while (gaps().some((g, j) => g <= before[j]!)) {
        if (Date.now() > deadline) {
          const stuck = instances.filter((_, j) => gaps()[j]! <= before[j]!).map((x) => x.name);
          throw new Error(`after the Redis restart, a bus never subscribed again: ${stuck.join(', ')}`);
        }
        // A resubscription has no event of its own to await here; bounded by the deadline.
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    async close() {
      await Promise.allSettled(instances.map((i) => i.strata.close()));
      for (const c of opened) c.disconnect();
      await link.stop();
      await Promise.allSettled(pools.map((p) => p.end()));
      if (!names.searchPath) await lapseWriterClaims(admin, names.ops);
      for (const s of [...APPS.map((a) => names.pgSchema[a]), names.ops]) await dropScratchSchema(admin, s);
      await admin.end();
    },
  };
}
