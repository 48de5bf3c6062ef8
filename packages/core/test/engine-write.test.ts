import { eq } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defineSchema, isStrataError, type L3Tier, Strata } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';
import { signal, wrapL3 } from './support/wrap.js';

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('engine_write');
  const players = defineSchema({ table: stack.tables.players });
  const sessions = defineSchema({ table: stack.tables.sessions });
  await new Strata({ l3: stack.l3, schemas: [players, sessions] }).migrate();
});
afterAll(() => stack?.cleanup());

const strataFor = (schema: Parameters<Strata['register']>[0], l3: L3Tier = stack.l3) =>
  new Strata({ l2: stack.l2, l3, keyPrefix: stack.keyPrefix, schemas: [schema] });

async function rowInPostgres(id: string) {
  const [row] = await stack.db.select().from(stack.tables.players).where(eq(stack.tables.players.id, id));
  return row;
}

describe('write-through', () => {
  it('commits to L3, then replaces L2 and L1; returns the row with Postgres defaults', async () => {
    const schema = defineSchema({ table: stack.tables.players });
    const strata = strataFor(schema);
    const stored = await strata.set(schema, { id: 'w1', username: 'ada' });
    expect(stored.level).toBe(1);
    expect(stored.active).toBe(true);
    expect(stored.createdAt).toBeInstanceOf(Date);
    expect((await rowInPostgres('w1'))?.username).toBe('ada');
    stack.reset();
    expect((await strata.get(schema, 'w1')).username).toBe('ada');
    expect(stack.l2Requests).toHaveLength(0);
    // A fresh instance reads the new value from L2 without asking L3.
    const other = strataFor(schema);
    expect((await other.get(schema, 'w1')).createdAt).toEqual(stored.createdAt);
    expect(stack.statementsOn('players')).toHaveLength(0);
  });

  it('leaves every cache as it was when the L3 write fails', async () => {
    const schema = defineSchema({ table: stack.tables.players });
    const strata = strataFor(schema);
    await strata.set(schema, { id: 'w2', username: 'taken' });
    await strata.set(schema, { id: 'w3', username: 'grace', level: 3 });
    const l2Before = (await stack.rawL2Keys()).sort();
    // Unique violation in Postgres: the write must not reach any cache.
    const err = await strata.set(schema, { id: 'w3', username: 'taken', level: 99 }).catch((e: unknown) => e);
    expect(isStrataError(err, 'VALIDATION_FAILED')).toBe(true);
    expect((err as { details: { sqlstate: string } }).details.sqlstate).toBe('23505');
    // The caller's input, not a failing tier: counted apart from the errors.
    expect(strata.stats()).toMatchObject({ errors: 0, rejected: 1, errorsBy: {} });
    expect((await strata.get(schema, 'w3')).level).toBe(3);
    expect((await strataFor(schema).get(schema, 'w3')).level).toBe(3);
    expect((await stack.rawL2Keys()).sort()).toEqual(l2Before);
    expect((await rowInPostgres('w3'))?.level).toBe(3);
  });

  it('never lets a read that raced a write put the old value back into a cache', async () => {
    const schema = defineSchema({ table: stack.tables.players });
    await strataFor(schema).set(schema, { id: 'race', username: 'race', level: 1 });
    // Gates around the real L3: the reader's findMany has read level 1, then waits for us.
    const gate = signal();
    const readHappened = signal();
    const writeStarted = signal();
    const gated = wrapL3(stack.l3, {
      findMany: async (s, ids) => {
        const rows = await stack.l3.findMany(s, ids);
        readHappened.resolve();
        await gate.promise;
        return rows;
      },
      write: (ops) => {
        writeStarted.resolve();
        return stack.l3.write(ops);
      },
    });
    const reader = new Strata({
      l2: stack.l2,
      l3: gated,
      keyPrefix: `${stack.keyPrefix}race`,
      schemas: [schema],
    });
    const writer = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}race`,
      schemas: [schema],
    });

    const staleRead = reader.get(schema, 'race');
    await readHappened.promise;
    // The reader holds level 1 (version 1); a write on the same instance commits level 2 (version 2),
    // then the read goes on and tries to fill the caches with what it read.
    const written = reader.set(schema, { id: 'race', username: 'race', level: 2 });
    await writeStarted.promise;
    await written;
    gate.resolve();
    expect((await staleRead).level).toBe(1); // it began before the write: the old value is its answer
    expect(reader.stats().fencedFills).toBe(1); // L1 refused the older version
    // …but neither L1 nor L2 holds the old value.
    expect((await reader.get(schema, 'race')).level).toBe(2);
    expect((await writer.get(schema, 'race')).level).toBe(2);
  });

  it("'write-through-l1-async' writes L3 and L2, and L1 fills on the next read", async () => {
    const schema = defineSchema({ table: stack.tables.players, writeMode: 'write-through-l1-async' });
    const strata = strataFor(schema);
    await strata.set(schema, { id: 'async', username: 'lazy' });
    expect(strata.stats().l1Entries).toBe(0);
    await strata.get(schema, 'async');
    expect(strata.stats().hits.l2).toBe(1);
    expect(strata.stats().l1Entries).toBe(1);
  });

  it('deletes from every tier', async () => {
    const schema = defineSchema({ table: stack.tables.players });
    const strata = strataFor(schema);
    await strata.set(schema, { id: 'del', username: 'del' });
    expect(await strata.delete(schema, 'del')).toBe(true);
    expect(await strata.find(schema, 'del')).toBeNull();
    expect(await strataFor(schema).find(schema, 'del')).toBeNull();
    expect(await rowInPostgres('del')).toBeUndefined();
    expect(await strata.delete(schema, 'del')).toBe(false);
  });
});

describe('L2 as the source of truth (no l3)', () => {
  it('keeps sessions in L2 only, without expiry unless the schema sets one', async () => {
    const schema = defineSchema({ table: stack.tables.sessions, l3: false });
    const strata = strataFor(schema);
    await strata.set(schema, { id: 's1', userId: 'u1', data: { cart: [1, 2] } });
    const other = strataFor(schema);
    expect(await other.get(schema, 's1')).toEqual({ id: 's1', userId: 'u1', data: { cart: [1, 2] } });
    expect(stack.statementsOn('sessions')).toHaveLength(0);
    const [key] = (await stack.rawL2Keys()).filter((k) => k.includes('.sessions:') && k.endsWith(':s1'));
    expect(await stack.redis.pttl(key!)).toBe(-1);
    expect(await strata.delete(schema, 's1')).toBe(true);
    // `other` still holds s1 in its L1 until the invalidation bus tells it (issue 5); L2 no longer does.
    expect(await strataFor(schema).find(schema, 's1')).toBeNull();
    expect(await strata.find(schema, 's1')).toBeNull();
  });
});

describe('hooks and validation run before any tier is touched', () => {
  it('HOOK_PANIC from a throwing beforeSet, with the cause, and nothing written', async () => {
    const boom = new Error('no');
    const schema = defineSchema({
      table: stack.tables.players,
      hooks: {
        beforeSet: (row) => {
          if (row.username === 'reject') throw boom;
        },
      },
    });
    const strata = strataFor(schema);
    stack.reset();
    const err = await strata.set(schema, { id: 'h1', username: 'reject' }).catch((e: unknown) => e);
    expect(isStrataError(err, 'HOOK_PANIC')).toBe(true);
    expect((err as Error).cause).toBe(boom);
    // The hook's own words, not only "hook beforeSet threw": a Go BeforeSet error was the error itself.
    expect((err as Error).message).toBe('strata: schema players: hook beforeSet threw: no');
    expect(stack.statements).toHaveLength(0);
    expect(stack.l2Requests).toHaveLength(0);
    expect(await rowInPostgres('h1')).toBeUndefined();
  });

  it('HOOK_PANIC from a throwing beforeGet, before any tier is asked', async () => {
    const schema = defineSchema({
      table: stack.tables.players,
      hooks: {
        beforeGet: () => {
          throw new Error('denied');
        },
      },
    });
    const strata = strataFor(schema);
    stack.reset();
    await expect(strata.get(schema, 'any')).rejects.toMatchObject({ code: 'HOOK_PANIC' });
    await expect(strata.getMany(schema, ['a', 'b'])).rejects.toMatchObject({ code: 'HOOK_PANIC' });
    expect(stack.l2Requests).toHaveLength(0);
    expect(stack.statements).toHaveLength(0);
  });

  it('beforeSet may change the row; afterSet, beforeGet and afterGet see the calls', async () => {
    const seen: string[] = [];
    const schema = defineSchema({
      table: stack.tables.players,
      hooks: {
        beforeSet: (row) => {
          row.username = row.username.toLowerCase();
        },
        afterSet: (row) => void seen.push(`afterSet:${row.username}`),
        beforeGet: (id) => void seen.push(`beforeGet:${id}`),
        afterGet: (row) => void seen.push(`afterGet:${row.username}`),
      },
    });
    const strata = strataFor(schema);
    await strata.set(schema, { id: 'h2', username: 'LOUD' });
    await strata.get(schema, 'h2');
    expect(seen).toEqual(['afterSet:loud', 'beforeGet:h2', 'afterGet:loud']);
  });

  it('VALIDATION_FAILED naming the field: table types, unknown fields, the schema validator', async () => {
    const schema = defineSchema({
      table: stack.tables.players,
      validate: z.object({ level: z.number().max(100) }),
    });
    const strata = strataFor(schema);
    stack.reset();
    const cases: [unknown, string][] = [
      [{ id: 'v1', username: 'x', level: 'high' }, 'level'],
      [{ id: 'v1', username: 'x', level: 2 ** 31 }, 'level'],
      [{ id: 'v1', username: 'x', levle: 3 }, 'levle'],
      [{ id: 'v1', username: null }, 'username'],
      [{ id: 'v1', username: 'x', level: 101 }, 'level'],
    ];
    for (const [row, field] of cases) {
      const err = await strata.set(schema, row as never).catch((e: unknown) => e);
      expect(isStrataError(err, 'VALIDATION_FAILED'), JSON.stringify(row)).toBe(true);
      expect((err as { details: { field: string } }).details.field).toBe(field);
    }
    const noId = await strata.set(schema, { username: 'x' } as never).catch((e: unknown) => e);
    expect(isStrataError(noId, 'MISSING_PRIMARY_KEY')).toBe(true);
    expect(stack.statements).toHaveLength(0);
    expect(stack.l2Requests).toHaveLength(0);
  });
});
