import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase, type ScratchDatabase } from '@strata/devstack';
import { testDevstack, uniqueName } from '@strata/devstack/testing';
import { Redis } from '@upstash/redis';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { createDrizzleL3 } from '../src/drizzle/index.js';
import { isStrataError, Strata } from '../src/index.js';
import { createUpstashL2 } from '../src/upstash/index.js';

// docs/from-go.md's block of the Go README's examples type-checks with the other samples
// (scripts/docs.test.ts); here it runs, as written, against real Postgres and Redis, and each call
// must do what the Go README says its Go call does. `strata`, `playerSchema` and `scoreSchema` are
// the reader's (scripts/doc-samples/schema.ts, as the type-check takes them), in a database of this
// test alone; the Redis keys under a prefix of this run.
const page = fileURLToPath(new URL('../../../docs/from-go.md', import.meta.url));
const schemaModule = fileURLToPath(new URL('../../../scripts/doc-samples/schema.ts', import.meta.url));
const generated = fileURLToPath(new URL('./.generated/', import.meta.url));

function fromGoBlock(): string {
  const text = readFileSync(page, 'utf8');
  const section = text.slice(text.indexOf("## The Go README's examples, in TypeScript"));
  const match = /```ts\n([\s\S]*?)```/.exec(section);
  if (!match?.[1]) throw new Error("docs/from-go.md has no ```ts block under its Go README's examples");
  return match[1];
}

const prelude = (databaseUrl: string, keyPrefix: string) => `
import { createMemoryQueue, Strata as StrataEngine } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { createUpstashL2 } from '@strata/core/upstash';
import { drizzle } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import { playerSchema, scoreSchema } from ${JSON.stringify(schemaModule)};
const pool = new pg.Pool({ connectionString: ${JSON.stringify(databaseUrl)}, max: 3 });
export const strata = new StrataEngine({
  l2: createUpstashL2(${JSON.stringify(testDevstack().upstash)}),
  l3: createDrizzleL3(drizzle(pool)),
  encryptionKey: ${JSON.stringify(Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString('base64'))},
  keyPrefix: ${JSON.stringify(keyPrefix)},
  schemas: [playerSchema, scoreSchema],
  writeBehind: { queue: createMemoryQueue() }, // as the page says new Strata needs for scoreSchema
});
await strata.migrate();
export const closePool = () => pool.end();
`;

let scratch: ScratchDatabase;
const keyPrefix = uniqueName('from_go');

beforeAll(async () => {
  scratch = await createScratchDatabase('from_go', testDevstack().postgres.url);
}, 30_000);

afterAll(async () => {
  await scratch?.drop();
  const redis = new Redis(testDevstack().upstash!);
  for (const pattern of [`${keyPrefix}*`, `{${keyPrefix}*`]) {
    const keys = await redis.keys(pattern);
    if (keys.length > 0) await redis.del(...keys);
  }
}, 30_000);

it("docs/from-go.md's Go README examples run as written and do what the Go calls do", async () => {
  mkdirSync(generated, { recursive: true });
  const file = `${generated}from-go.ts`;
  writeFileSync(
    file,
    `${prelude(scratch.url, keyPrefix)}\n${fromGoBlock()}\nexport { top, board, ok, n, s, sessionSchema, eventSchema };\n`,
  );
  const log = vi.spyOn(console, 'log').mockImplementation(() => {});
  let sample: Record<string, unknown> & {
    strata: import('../src/index.js').Strata;
    closePool(): Promise<void>;
  };
  try {
    sample = await import(/* @vite-ignore */ file);
  } finally {
    log.mockRestore();
  }
  const { strata } = sample;
  try {
    // Search with level > 10 found no one (levels 1 and 5); SearchCached and Count see the same rows.
    expect(sample.top).toEqual([]);
    expect((sample.board as unknown[]).length).toBe(2); // p2, p3 (p1 was deleted before it)
    expect(sample.ok).toBe(false); // Exists after Delete
    expect(sample.n).toBe(0);
    // Stats: gets, sets and deletes counted as Go's were.
    const s = sample.s as ReturnType<typeof strata.stats>;
    // set p1, setMany p2 p3, the transaction's two sets; delete p1 and the transaction's delete.
    expect({ sets: s.sets, deletes: s.deletes }).toEqual({ sets: 5, deletes: 2 });
    expect(s.dirtyCount).toBe(0); // FlushDirty emptied the write-behind queue
    // The registered schemas work as Go's: BeforeSet's error aborts the set, sessions live in Redis only.
    // By name (Go's form; loosely typed): the generated module's exports are not typed here.
    const eventSchema = (sample.eventSchema as { name: string }).name;
    const sessionSchema = (sample.sessionSchema as { name: string }).name;
    const noTrace = await strata.set(eventSchema, { id: 'e1', userId: 'u1', traceId: '' }).catch((e) => e);
    expect(isStrataError(noTrace, 'HOOK_PANIC')).toBe(true);
    expect((noTrace as Error).cause).toEqual(new Error('no trace id'));
    await strata.set(eventSchema, { id: 'e2', userId: 'u1', traceId: 't2' });
    await strata.set(sessionSchema, { id: 'sess1', userId: 'u1' });
    expect(await strata.get(sessionSchema, 'sess1')).toMatchObject({ userId: 'u1' });
    // The transaction's rows are in Postgres: the player at level 99, the write-behind score flushed.
    const client = new pg.Client({ connectionString: scratch.url });
    await client.connect();
    try {
      const players = await client.query('select id, level from players order by id');
      expect(players.rows).toEqual([
        { id: 'p1', level: 99 },
        { id: 'p2', level: 1 },
        { id: 'p3', level: 1 },
      ]);
      const events = await client.query('select id from events');
      expect(events.rows).toEqual([{ id: 'e2' }]); // e1's hook aborted it
      const indexes = await client.query("select indexname from pg_indexes where tablename = 'events'");
      expect(indexes.rows.map((r) => r.indexname)).toContain('idx_events_user');
      expect((await client.query("select to_regclass('sessions') as t")).rows).toEqual([{ t: null }]);
      const scores = await client.query('select id, player_id, points from scores');
      expect(scores.rows).toEqual([{ id: 's1', player_id: 'p1', points: 9999 }]);
    } finally {
      await client.end();
    }
  } finally {
    await strata.close();
    await sample.closePool();
  }
}, 60_000);

it('a write-behind schema without a queue (Go needed none) is refused naming the queue to pass', async () => {
  const { scoreSchema } = await import(/* @vite-ignore */ schemaModule);
  const pool = new pg.Pool({ connectionString: scratch.url, max: 1 });
  try {
    const build = () =>
      new Strata({
        l2: createUpstashL2(testDevstack().upstash!),
        l3: createDrizzleL3(drizzle(pool)),
        keyPrefix,
        schemas: [scoreSchema],
      });
    expect(build).toThrow(/write-behind needs config\.writeBehind\.queue \(createMemoryQueue\(\)\)/);
    let err: unknown;
    try {
      build();
    } catch (caught) {
      err = caught;
    }
    expect(isStrataError(err, 'INVALID_CONFIG')).toBe(true);
  } finally {
    await pool.end();
  }
});
