import { defineSchema, type Logger, Strata } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { dropScratchSchema, lapseWriterClaims, serviceUrls } from '@strata/devstack/testing';
import { drizzle } from 'drizzle-orm/node-postgres';
import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { scratchApp } from '../support/scratch-app.js';
import { searchPathDbs } from '../support/search-path-dbs.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

// Tenants by search_path on ONE keyPrefix and one Redis (docs/semantics.md, "Identities"): A claims
// the keyPrefix with its identity. B reaches its Postgres through a loopback TCP proxy that holds or
// cuts B's identity query on the wire (the real query: `pg_control_system`), everything else going
// through. Until B knows which database it is it can check no claim: it must neither serve L2 rows
// nor write L2 (reads from its Postgres, writes refused before anything is written), and get L2
// back once Postgres answers. BROKE before (l3-claim.ts, generation.ts): the first read waited
// 200 ms for the identity and then went unchecked (B read A's rows from L2), and after a failed
// identity query writes went unchecked too (B's rows in A's L2 keys, its write-behind writes on A's
// stream, and B's flusher applied A's queued writes to B's table).

describe('a second tenant on the keyPrefix whose Postgres is slow or failing to name its database', () => {
  const scratch = scratchApp('identity');
  const { name, admin } = scratch;
  const tenants = { a: `${name}_ta`, b: `${name}_tb` } as const;
  type Tenant = keyof typeof tenants;
  const items = pgTable('items', { id: text('id').primaryKey(), n: integer('n').notNull() });
  const through = defineSchema({ name: 'items', table: items });
  const behind = defineSchema({ name: 'items', table: items, writeMode: 'write-behind' });
  // No L1: every read of B asks L2 (when it may) or Postgres, so its L2 hits show.
  const bare = defineSchema({ name: 'items', table: items, l1: false });
  const dbs = searchPathDbs();
  const proxies: TcpProxy[] = [];
  const pools: pg.Pool[] = [];
  let proxy: TcpProxy;

  /** B's database: a pool of its own through this test's proxy, its search_path its schema. */
  const proxiedDb = () => {
    const pool = new pg.Pool({
      connectionString: proxy.url(serviceUrls().databaseUrl),
      max: 3,
      options: `-c search_path=${tenants.b}`,
    });
    pool.on('error', () => {});
    pools.push(pool);
    return drizzle({ client: pool });
  };
  type Options = { proxied?: boolean; keyPrefix?: string; clock?: ReturnType<typeof manualClock> };
  const app = (tenant: Tenant, schema: ReturnType<typeof defineSchema>, options: Options = {}) => {
    const warned: string[] = [];
    const keep = (message: string, fields?: Record<string, unknown>) =>
      void warned.push(`${message} ${JSON.stringify(fields ?? {})}`);
    const logger: Logger = { debug() {}, info() {}, warn: keep, error: keep };
    const db = options.proxied ? proxiedDb() : dbs.db(tenants[tenant]);
    const strata = scratch.strata({
      keyPrefix: options.keyPrefix ?? name,
      l3: createDrizzleL3(db, { migrationsSchema: tenants[tenant] }),
      schemas: [schema],
      logger,
      ...(options.clock && { clock: options.clock }),
    });
    return Object.assign(strata, { warned });
  };
  const n = async (tenant: Tenant, id: string) =>
    (await admin.query<{ n: number }>(`select n from "${tenants[tenant]}".items where id = $1`, [id])).rows[0]
      ?.n;
  const outcome = (p: Promise<unknown>) =>
    p.then(
      () => 'acked',
      (err: { code?: string }) => err.code ?? String(err),
    );
  const isIdentity = (chunk: Buffer) => chunk.includes('pg_control_system');
  /** Holds B's identity query on the wire; the returned function lets it (and what followed) go. */
  const holdIdentity = () => {
    void proxy.trap({ direction: 'up', action: 'hold', match: isIdentity });
    return () => proxy.resume();
  };
  /** Cuts every identity query (its connection reset: the query fails) until the returned function is called. */
  const failIdentity = () => {
    let on = true;
    const arm = (): void =>
      void proxy
        .trap({ direction: 'up', action: 'cut', match: (c) => on && isIdentity(c) })
        .then(() => on && arm());
    arm();
    return () => {
      on = false;
    };
  };

  beforeAll(async () => {
    for (const tenant of ['a', 'b'] as const) {
      await admin.query(`create schema "${tenants[tenant]}"`);
      await new Strata({
        l3: createDrizzleL3(dbs.db(tenants[tenant]), { migrationsSchema: tenants[tenant] }),
        schemas: [through],
      }).migrate();
    }
  });
  // Each test is other instances: the last test's, closed by now, lapse their writer claims.
  beforeEach(async () => {
    proxy = await startTcpProxy(Number(new URL(serviceUrls().databaseUrl).port || 5432));
    proxies.push(proxy);
    for (const schema of Object.values(tenants))
      await lapseWriterClaims(admin, schema, { redis: scratch.raw, keyPrefix: name });
  });
  afterAll(async () => {
    await Promise.allSettled(pools.map((p) => p.end()));
    await Promise.allSettled(proxies.map((p) => p.close()));
    await dbs.end();
    for (const schema of Object.values(tenants)) await dropScratchSchema(admin, schema);
  });

  it("slow: B's reads while its identity is held take L2 unchecked; once it is known B is refused L2", async () => {
    const a = app('a', through);
    await a.set(through, { id: 's1', n: 1 });
    expect((await a.find(through, 's1'))?.n).toBe(1); // in L2; A's generation read claims the keyPrefix
    await admin.query(`insert into "${tenants.b}".items (id, n) values ('s1', 10)`);
    const release = holdIdentity();
    const b = app('b', bare, { proxied: true });
    const reads = [];
    for (let i = 0; i < 3; i++) reads.push((await b.find(bare, 's1'))?.n);
    // Reads take L2 unchecked past the 200 ms wait: cached reads answer through a slow or hanging
    // Postgres (faults-neon-http.test.ts, engine-faults.test.ts). The price, in this narrow case
    // (another database's app on the same keyPrefix, a cold instance, its Postgres slow): a read can
    // show that app's row. No write can change it (the tests below).
    expect(reads, 'reads take L2 unchecked while the identity is held').toEqual([1, 1, 1]);
    expect(b.warned.join('\n')).toMatch(/keyPrefix '.*' is not checked yet/);
    const hits = b.stats().hits.l2;
    release();
    await b.migrate(); // waits for the identity question the first read asked
    expect((await b.find(bare, 's1'))?.n).toBe(10);
    expect(b.warned.join('\n')).toMatch(/belongs to an app on another database/);
    expect(b.stats().hits.l2).toBe(hits);
    expect((await app('a', bare).find(bare, 's1'))?.n).toBe(1);
  });

  it("failing, write-through: B's writes are refused before anything is written; A's L2 keeps A's rows", async () => {
    const a = app('a', through);
    await a.set(through, { id: 'f1', n: 1 });
    expect((await a.find(through, 'f1'))?.n).toBe(1);
    expect(await a.find(through, 'f2')).toBeNull(); // an absence A cached
    const stop = failIdentity();
    const b = app('b', through, { proxied: true });
    const read = (await b.find(through, 'f1'))?.n ?? null;
    const wrote = [
      await outcome(b.set(through, { id: 'f2', n: 20 })),
      await outcome(b.delete(through, 'f1')),
    ];
    stop();
    const fresh = app('a', bare);
    expect({
      a1: await n('a', 'f1'),
      a2: await n('a', 'f2'),
      b2: await n('b', 'f2'),
      l2a1: (await fresh.find(bare, 'f1'))?.n ?? null,
      l2a2: (await fresh.find(bare, 'f2'))?.n ?? null,
    }).toEqual({ a1: 1, a2: undefined, b2: undefined, l2a1: 1, l2a2: null });
    // Reads, once the question failed (as when Postgres is down), take L2 unchecked: cached reads
    // answer through an L3 outage (engine-faults.test.ts). The price, in this narrow case (another
    // database on the same keyPrefix, a cold instance, its identity unanswered): a read can show the
    // other app's row; no write can change it.
    expect(read, 'a read takes L2 unchecked once the question failed').toBe(1);
    expect(wrote).toEqual(['L3_UNAVAILABLE', 'L3_UNAVAILABLE']);
  });

  it("failing, write-behind: B's writes are refused and change nothing; B's flusher leaves A's queued writes to A", async () => {
    const a = app('a', behind);
    await a.set(behind, { id: 'w1', n: 1 }); // queued on the keyPrefix's stream, not flushed
    const stop = failIdentity();
    const b = app('b', behind, { proxied: true });
    const wrote = await outcome(b.set(behind, { id: 'w2', n: 20 }));
    const flushed = await outcome(b.flushDirty());
    stop();
    await a.flushDirty();
    expect({
      a1: await n('a', 'w1'),
      a2: await n('a', 'w2'),
      b1: await n('b', 'w1'),
      b2: await n('b', 'w2'),
      l2a2: (await app('a', bare).find(bare, 'w2'))?.n ?? null,
    }).toEqual({ a1: 1, a2: undefined, b1: undefined, b2: undefined, l2a2: null });
    expect({ wrote, flushed }).toEqual({ wrote: 'L3_UNAVAILABLE', flushed: 'L3_UNAVAILABLE' });
  });

  it('failing, then answering: the identity is asked again (not on every call) and the instance gets L2 back', async () => {
    // B alone on a keyPrefix of its own: once it knows its database, L2 is its own.
    const clock = manualClock(Date.now());
    const stop = failIdentity();
    const b = app('b', bare, { proxied: true, keyPrefix: `${name}_own`, clock });
    await admin.query(`insert into "${tenants.b}".items (id, n) values ('r1', 5) on conflict do nothing`);
    for (let i = 0; i < 20; i++) expect((await b.find(bare, 'r1'))?.n).toBe(5);
    expect(await outcome(b.set(bare, { id: 'r2', n: 6 }))).toBe('L3_UNAVAILABLE');
    // Asked once, by the first read (its retry is not due: this clock has not moved), not per call.
    expect(proxy.stats().trapsFired).toBe(1);
    expect(b.stats().hits.l2).toBe(0);
    stop();
    clock.advance(5_000); // past the retry
    await b.find(bare, 'r1'); // asks again (not waited for: this read goes to Postgres)
    await b.migrate(); // waits for that question to be answered
    expect(await outcome(b.set(bare, { id: 'r2', n: 6 }))).toBe('acked');
    expect([(await b.find(bare, 'r1'))?.n, (await b.find(bare, 'r2'))?.n]).toEqual([5, 6]);
    expect(b.stats().hits.l2).toBeGreaterThan(0);
    expect(proxy.stats().trapsFired).toBe(1);
  });
});
