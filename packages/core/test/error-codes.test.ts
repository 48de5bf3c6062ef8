import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, isStrataError, type L3Tier, Q, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { wrapL3 } from './support/wrap.js';

/**
 * Issue 12, item 18: Postgres errors caused by the caller's input come back as the caller's error
 * (INVALID_QUERY, VALIDATION_FAILED), a table that does not match its schema as INVALID_MODEL, and
 * only failures of Postgres itself as L3_UNAVAILABLE. Each with `details.sqlstate`.
 */
let stack: EngineStack;
let players: ReturnType<typeof playersSchema>;
const opened: Strata[] = [];
const playersSchema = () => defineSchema({ table: stack.tables.players });

const strata = (schema: Parameters<Strata['register']>[0], l3: L3Tier = stack.l3) => {
  const instance = new Strata({ l2: stack.l2, l3, keyPrefix: stack.keyPrefix, schemas: [schema] });
  opened.push(instance);
  return instance;
};

async function refusal(attempt: () => Promise<unknown>): Promise<{ code: string; sqlstate?: unknown }> {
  try {
    await attempt();
  } catch (err) {
    if (!isStrataError(err)) return { code: `untyped ${String(err)}` };
    return { code: err.code, sqlstate: err.details?.sqlstate };
  }
  return { code: 'resolved' };
}

/** Text Postgres cannot compress: the index entry keeps its full size. */
function randomText(chars: number): string {
  const bytes = crypto.getRandomValues(new Uint8Array(chars));
  return Array.from(bytes, (b) => String.fromCharCode(33 + (b % 94))).join('');
}

beforeAll(async () => {
  stack = await engineStack('error_codes');
  players = playersSchema();
  const s = strata(players);
  await s.migrate();
  await s.setMany(players, [
    { id: 'e1', username: 'ada', level: 3 },
    { id: 'e2', username: 'bob', level: 5 },
  ]);
});
afterAll(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  await stack?.cleanup();
});

describe('a query Postgres refuses is INVALID_QUERY, not L3_UNAVAILABLE', () => {
  it('a where text with a syntax error (42601)', async () => {
    const s = strata(players);
    const query = Q().where('level >').build();
    expect(await refusal(() => s.search(players, query))).toEqual({
      code: 'INVALID_QUERY',
      sqlstate: '42601',
    });
    expect(await refusal(() => s.searchCached(players, query))).toEqual({
      code: 'INVALID_QUERY',
      sqlstate: '42601',
    });
    expect(await refusal(() => s.count(players, query))).toEqual({
      code: 'INVALID_QUERY',
      sqlstate: '42601',
    });
  });

  it('an unknown column in the where text (42703), with Postgres’ message', async () => {
    const s = strata(players);
    const err = await s.search(players, Q().where('nope = $1', 1).build()).catch((e: unknown) => e);
    expect(isStrataError(err, 'INVALID_QUERY')).toBe(true);
    expect((err as Error).message).toMatch(/column "nope" does not exist/);
    expect((err as { details: unknown }).details).toEqual({ schema: 'players', sqlstate: '42703' });
  });

  it('a where argument Postgres cannot read as the column type (22P02)', async () => {
    const s = strata(players);
    expect(await refusal(() => s.search(players, Q().where('level = $1', 'abc').build()))).toEqual({
      code: 'INVALID_QUERY',
      sqlstate: '22P02',
    });
    // The same query with a good argument still works.
    expect((await s.search(players, Q().where('level = $1', 3).build())).map((r) => r.id)).toEqual(['e1']);
  });
});

describe('a row Postgres refuses is VALIDATION_FAILED, and changes nothing', () => {
  it('a unique-indexed text too large for its btree entry (54000)', async () => {
    const s = strata(players);
    const l2Before = (await stack.rawL2Keys()).sort();
    expect(await refusal(() => s.set(players, { id: 'big', username: randomText(10_000) }))).toEqual({
      code: 'VALIDATION_FAILED',
      sqlstate: '54000',
    });
    const { rows } = await stack.pool.query(
      `select count(*)::int as n from "${stack.name}"."players" where id = 'big'`,
    );
    expect(rows[0].n).toBe(0);
    expect((await stack.rawL2Keys()).sort()).toEqual(l2Before);
    expect(await refusal(() => s.get(players, 'big'))).toEqual({ code: 'NOT_FOUND', sqlstate: undefined });
  });

  it('a constraint violation (23505) stays VALIDATION_FAILED', async () => {
    expect(await refusal(() => strata(players).set(players, { id: 'e3', username: 'ada' }))).toEqual({
      code: 'VALIDATION_FAILED',
      sqlstate: '23505',
    });
  });

  it('a constraint violation names the constraint (never the value): details.constraint and the message', async () => {
    const err = await strata(players)
      .set(players, { id: 'e4', username: 'bob' })
      .catch((e: unknown) => e);
    expect(isStrataError(err, 'VALIDATION_FAILED')).toBe(true);
    expect((err as { details: unknown }).details).toEqual({
      schema: 'players',
      sqlstate: '23505',
      constraint: 'players_username_unique',
    });
    expect((err as Error).message).toMatch(/constraint players_username_unique$/);
    expect((err as Error).message).not.toMatch(/bob/);
  });
});

describe('a table that does not match its schema is INVALID_MODEL', () => {
  it('a missing table (42P01) on get and set', async () => {
    const ghost = defineSchema({
      table: pgSchema(stack.name).table('ghost', { id: text('id').primaryKey() }),
    });
    const s = strata(ghost);
    expect(await refusal(() => s.get(ghost, 'g1'))).toEqual({ code: 'INVALID_MODEL', sqlstate: '42P01' });
    expect(await refusal(() => s.set(ghost, { id: 'g1' }))).toEqual({
      code: 'INVALID_MODEL',
      sqlstate: '42P01',
    });
  });

  it('a column the table lacks (42703) on get', async () => {
    await stack.pool.query(`create table "${stack.name}"."partial" (id text primary key)`);
    const partial = defineSchema({
      table: pgSchema(stack.name).table('partial', { id: text('id').primaryKey(), extra: integer('extra') }),
    });
    const err = await strata(partial)
      .get(partial, 'p1')
      .catch((e: unknown) => e);
    expect(isStrataError(err, 'INVALID_MODEL')).toBe(true);
    expect((err as Error).message).toMatch(/run migrate\(\) or drizzle-kit push/);
  });
});

describe('failures of Postgres itself stay L3_UNAVAILABLE', () => {
  it('no SQLSTATE (a cut connection), a serialization failure, a Node errno code', async () => {
    for (const [failure, sqlstate] of [
      [new Error('Connection terminated unexpectedly'), undefined],
      [Object.assign(new Error('could not serialize access'), { code: '40001' }), '40001'],
      [Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' }), undefined],
    ] as const) {
      const failing = wrapL3(stack.l3, { findMany: () => Promise.reject(failure) });
      expect(await refusal(() => strata(players, failing).get(players, 'not-cached'))).toEqual({
        code: 'L3_UNAVAILABLE',
        sqlstate,
      });
    }
  });
});
