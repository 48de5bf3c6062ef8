import { type CreateStrataOptions, createStrata, type NodeStrata } from '@strata/adapter-node';
import { defineSchema, Strata, type WriteMode } from '@strata/core';
import { dropScratchSchema, serviceUrls, uniqueName } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach } from 'vitest';
import { type LedgerEntry, record } from './ledger.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/** How a call under a fault ended: with a value, with an error, or not at all by its deadline. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; error: unknown } | { hung: true };

/**
 * The tally of one fault scenario: operations run, writes acknowledged, calls that hung past their
 * deadline, unhandled rejections seen while it ran. `finish()` records it in the ledger.
 * @example
 * const t = new Tally('faults', 'redis stopped');
 * const r = await t.run(strata.set(schema, row), 1_500);
 * if ('ok' in r && r.ok) t.acked(row.id, row.n);
 */
export class Tally {
  operations = 0;
  faultsInjected = 0;
  hangs = 0;
  unhandledRejections = 0;
  writesAcknowledged = 0;
  readonly #onUnhandled = (reason: unknown) => {
    this.unhandledRejections++;
    this.unhandledReasons.push(reason);
  };
  readonly unhandledReasons: unknown[] = [];

  constructor(
    readonly category: 'faults' | 'crash',
    readonly scenario: string,
  ) {
    process.on('unhandledRejection', this.#onUnhandled);
  }

  fault(n = 1): void {
    this.faultsInjected += n;
  }

  /** Runs one operation against a deadline; a loss counts a hang (and the call is left to settle). */
  async run<T>(work: Promise<T>, deadlineMs: number): Promise<Outcome<T>> {
    this.operations++;
    const outcome = await settleBy(work, deadlineMs);
    if ('hung' in outcome) this.hangs++;
    return outcome;
  }

  /** A write of `n` to `id` that the caller saw succeed. */
  acked(id: string, n: number): void {
    this.writesAcknowledged++;
    this.#writes.push([id, n]);
  }

  /**
   * How many acknowledged writes are found: a write of `n` to `id` is found when the stored `n` is
   * at least it (each id's writes go up, so a newer value holds every older acknowledged one).
   */
  found(stored: ReadonlyMap<string, number>): number {
    let found = 0;
    for (const [id, n] of this.#writes) if ((stored.get(id) ?? Number.NEGATIVE_INFINITY) >= n) found++;
    return found;
  }

  /** Acknowledged writes not found, for assertion messages. */
  missing(stored: ReadonlyMap<string, number>): string[] {
    return this.#writes
      .filter(([id, n]) => (stored.get(id) ?? Number.NEGATIVE_INFINITY) < n)
      .map(([id, n]) => `${id}=${n}`);
  }

  readonly #writes: [string, number][] = [];

  /** Stops listening for unhandled rejections and records the scenario. */
  finish(extra: Partial<LedgerEntry> = {}): LedgerEntry {
    process.off('unhandledRejection', this.#onUnhandled);
    const entry: LedgerEntry = {
      category: this.category,
      scenario: this.scenario,
      faultsInjected: this.faultsInjected,
      operations: this.operations,
      writesAcknowledged: this.writesAcknowledged,
      writesFound: 0,
      hangs: this.hangs,
      unhandledRejections: this.unhandledRejections,
      ...extra,
    };
    record(entry);
    return entry;
  }
}

/** How `work` ends within `deadlineMs`; `{ hung: true }` if it has not settled by then (it is left to settle). */
export async function settleBy<T>(work: Promise<T>, deadlineMs: number): Promise<Outcome<T>> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<{ hung: true }>((resolve) => {
    timer = setTimeout(() => resolve({ hung: true }), deadlineMs);
  });
  const settled = work.then(
    (value): Outcome<T> => ({ ok: true, value }),
    (error: unknown): Outcome<T> => ({ ok: false, error }),
  );
  const outcome = await Promise.race([settled, deadline]);
  clearTimeout(timer);
  return outcome;
}

/** The test table of every fault scenario: an id, a counter that only goes up, a label. */
export function itemsTable(pgSchemaName: string) {
  return pgSchema(pgSchemaName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n').notNull(),
    label: text('label'),
  });
}
export type ItemsTable = ReturnType<typeof itemsTable>;

/**
 * A scenario's own corner of the real Postgres (a schema with the items table) and Redis keys, a
 * direct pool to check what Postgres really holds, and a cleanup.
 */
export async function faultScratch(label: string) {
  const name = uniqueName(label);
  const { databaseUrl, redisUrl } = serviceUrls();
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
  pool.on('error', () => {});
  const db = drizzle(pool);
  const table = itemsTable(name);
  const { createDrizzleL3 } = await import('@strata/core/drizzle');
  // Strata's own tables (`migrationsSchema`) in the scenario's schema too: every Strata over this
  // store passes `migrationsSchema: name`, and the cleanup's DROP SCHEMA takes them along.
  await new Strata({
    l3: createDrizzleL3(db, { migrationsSchema: name }),
    schemas: [defineSchema({ table, name })],
  }).migrate();
  const schemas = new Map<WriteMode, ReturnType<typeof defineSchema<ItemsTable>>>();
  return {
    name,
    databaseUrl,
    redisUrl,
    pool,
    db,
    table,
    /** The items schema in this write mode (one object per mode: Strata resolves schemas by identity). */
    schema(writeMode: WriteMode = 'write-through') {
      let schema = schemas.get(writeMode);
      if (!schema) {
        schema = defineSchema({ table, name, writeMode });
        schemas.set(writeMode, schema);
      }
      return schema;
    },
    /** id -> n, as Postgres holds it now. */
    async stored(): Promise<Map<string, number>> {
      const { rows } = await pool.query<{ id: string; n: number }>(`select id, n from "${name}".items`);
      return new Map(rows.map((r) => [r.id, r.n]));
    },
    async cleanup(extraRedisUrls: readonly string[] = []) {
      await dropScratchSchema(pool, name);
      for (const url of [redisUrl, ...extraRedisUrls]) {
        const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0 });
        redis.on('error', () => {});
        try {
          const keys = await redis.keys(`${name}*`);
          if (keys.length > 0) await redis.del(...keys);
        } catch {
          // A spawned Redis may be gone already: nothing to clean there.
        }
        redis.disconnect();
      }
      await pool.end();
    },
  };
}
export type FaultScratch = Awaited<ReturnType<typeof faultScratch>>;

/** A loopback TCP proxy in front of the store's Postgres (connect through `proxy.url(store.databaseUrl)`). */
export function postgresProxy(store: FaultScratch): Promise<TcpProxy> {
  return startTcpProxy(Number(new URL(store.databaseUrl).port || 5432));
}

/**
 * A fault test file's store and a proxy in front of its Postgres (`postgresProxy`), made and closed
 * by vitest hooks. A proxy per test: a reset in one never reaches another test's connections. The
 * store is the file's, or each test's with `storePerTest`. `afterTest` runs after each test, before
 * its proxy closes (to close the test's instances and pools).
 */
export function proxiedStore(
  label: string,
  options: { storePerTest?: boolean; afterTest?: () => Promise<void> } = {},
): { readonly store: FaultScratch; readonly proxy: TcpProxy } {
  const made = {} as { store: FaultScratch; proxy: TcpProxy };
  if (!options.storePerTest) {
    beforeAll(async () => {
      made.store = await faultScratch(label);
    });
    afterAll(async () => {
      await made.store?.cleanup();
    });
  }
  beforeEach(async () => {
    if (options.storePerTest) made.store = await faultScratch(label);
    made.proxy = await postgresProxy(made.store);
  });
  afterEach(async () => {
    await options.afterTest?.();
    await made.proxy?.close();
    if (options.storePerTest) await made.store?.cleanup();
  });
  return made;
}

/**
 * A pg Pool none of whose errors is uncaught: an idle client's, nor a checked-out client's whose
 * connection a fault reset (as adapter-node's createStrata's pool does).
 */
export function quietPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString, max });
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return pool;
}

/**
 * adapter-node's createStrata over `store` (its Redis and keyPrefix, Strata's tables in its schema),
 * with Postgres at `databaseUrl` (a proxy's, say) and no signal handlers; `options` add the rest.
 */
export function storeStrata(
  store: FaultScratch,
  databaseUrl: string,
  options: Omit<CreateStrataOptions, 'databaseUrl' | 'redisUrl' | 'keyPrefix' | 'migrationsSchema'>,
): Promise<NodeStrata> {
  return createStrata({
    databaseUrl,
    redisUrl: store.redisUrl,
    keyPrefix: store.name,
    migrationsSchema: store.name,
    handleSignals: false,
    ...options,
  });
}

/** The code of a Strata error, else the error's message (for assertion messages). */
export function codeOf(outcome: Outcome<unknown>): string {
  if ('hung' in outcome) return 'HANG';
  if (outcome.ok) return 'OK';
  const e = outcome.error as { code?: unknown; message?: unknown };
  return typeof e?.code === 'string' ? e.code : String(e?.message ?? e);
}
