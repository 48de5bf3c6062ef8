import {
  bigint,
  bigserial,
  integer,
  pgSchema,
  serial,
  smallint,
  smallserial,
  text,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { idKey, normalizeId } from '../src/engine/ids.js';
import { defineSchema, isStrataError, Q, Strata, type StrataErrorCode } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

/** Issue 12, items 14, 15, 17 and 18 (inputs): each refused before any tier, or kept exactly. */
let stack: EngineStack;
let players: ReturnType<typeof playersSchema>;
let counters: ReturnType<typeof countersSchema>;
const opened: Strata[] = [];
const playersSchema = () => defineSchema({ table: stack.tables.players });
const countersSchema = () => defineSchema({ table: stack.tables.counters });

const strata = (...schemas: Parameters<Strata['register']>[0][]) => {
  const instance = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas });
  opened.push(instance);
  return instance;
};

/** `levels` objects nested in each other: 1 is `{}`. */
function nested(levels: number): Record<string, unknown> {
  let value: Record<string, unknown> = {};
  for (let i = 1; i < levels; i++) value = { a: value };
  return value;
}

async function codeOf(attempt: () => Promise<unknown>): Promise<StrataErrorCode | 'resolved' | string> {
  try {
    await attempt();
    return 'resolved';
  } catch (err) {
    return isStrataError(err) ? err.code : `untyped ${String(err)}`;
  }
}

async function count(table: string, where: string): Promise<number> {
  const { rows } = await stack.pool.query(
    `select count(*)::int as n from "${stack.name}"."${table}" where ${where}`,
  );
  return rows[0].n as number;
}

beforeAll(async () => {
  stack = await engineStack('input_limits');
  players = playersSchema();
  counters = countersSchema();
  await strata(players, counters).migrate();
});
afterAll(async () => {
  await Promise.allSettled(opened.map((s) => s.close()));
  await stack?.cleanup();
});

describe('ids (issue 12, items 14 and 18)', () => {
  it('item 14: ids with a lone surrogate are MISSING_PRIMARY_KEY for get, set, delete, getMany; none reach Postgres', async () => {
    const s = strata(players);
    for (const id of ['sur\uD800', 'sur\uDC00']) {
      expect(await codeOf(() => s.get(players, id))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.set(players, { id, username: `u-${id}` }))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.delete(players, id))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.getMany(players, ['sur-ok', id]))).toBe('MISSING_PRIMARY_KEY');
    }
    // Both would have been stored as 'sur\uFFFD' (UTF-8 has no lone surrogates): one row for two ids.
    expect(await count('players', `id like 'sur%'`)).toBe(0);
    const emoji = 'sur Zoë 🎉 日本';
    await s.set(players, { id: emoji, username: 'emoji' });
    expect((await strata(players).get(players, emoji)).username).toBe('emoji');
    expect(await count('players', `id = 'sur Zoë 🎉 日本'`)).toBe(1);
  });

  it('an id with a NUL (U+0000) is MISSING_PRIMARY_KEY for every call taking ids; no tier sees it', async () => {
    const s = strata(players);
    await s.set(players, { id: 'nul-ok', username: 'nul-ok' });
    const keysBefore = (await stack.rawL2Keys()).sort();
    const statsBefore = JSON.stringify(s.stats());
    for (const id of ['nul\u0000', '\u0000', `nul-${'x'.repeat(200)}\u0000`]) {
      const row = { id, username: 'nul-row' };
      expect(await codeOf(() => s.get(players, id))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.exists(players, id))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.set(players, row))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.delete(players, id))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.getMany(players, ['nul-ok', id]))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.deleteMany(players, ['nul-ok', id]))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.setMany(players, [{ id: 'nul-ok', username: 'changed' }, row]))).toBe(
        'MISSING_PRIMARY_KEY',
      );
    }
    // Nothing changed: no row, no key, no tier read (stats as they were), the good row as it was.
    expect(await count('players', `id like 'nul%' and id <> 'nul-ok'`)).toBe(0);
    expect((await stack.rawL2Keys()).sort()).toEqual(keysBefore);
    expect(JSON.stringify(s.stats())).toBe(statsBefore);
    expect((await strata(players).get(players, 'nul-ok')).username).toBe('nul-ok');
  });

  it('item 18: 1.5 and "1.5" as an integer key are MISSING_PRIMARY_KEY, not a Postgres error', async () => {
    const s = strata(counters);
    await s.set(counters, { id: 1, n: 10 });
    for (const id of [1.5, '1.5']) {
      expect(await codeOf(() => s.get(counters, id))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.delete(counters, id))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.getMany(counters, [1, id]))).toBe('MISSING_PRIMARY_KEY');
      expect(await codeOf(() => s.set(counters, { id: id as number, n: 1 }))).toBe('MISSING_PRIMARY_KEY');
    }
    expect((await s.get(counters, '1')).n).toBe(10);
  });

  it('every supported primary key type: the cache key is exactly pk::text in Postgres', async () => {
    const s = pgSchema(stack.name);
    const cases = [
      ['pk_text', text('id'), 'Zoë 🎉', ['Zoë 🎉']],
      ['pk_varchar', varchar('id', { length: 40 }), 'abc', ['abc']],
      [
        'pk_uuid',
        uuid('id'),
        '8F14E45F-CEEA-467F-A0E6-1B2F1A8A5C01',
        ['8f14e45f-ceea-467f-a0e6-1b2f1a8a5c01'],
      ],
      ['pk_smallint', smallint('id'), -7, ['-007', -7]],
      ['pk_integer', integer('id'), 42, ['0042', 42n]],
      ['pk_bigint53', bigint('id', { mode: 'number' }), Number.MAX_SAFE_INTEGER, ['9007199254740991']],
      ['pk_bigint64', bigint('id', { mode: 'bigint' }), 2n ** 63n - 1n, ['9223372036854775807']],
      ['pk_serial', serial('id'), 7, ['7']],
      ['pk_smallserial', smallserial('id'), 3, ['03']],
      ['pk_bigserial', bigserial('id', { mode: 'bigint' }), 5n, ['5', 5]],
    ] as const;
    for (const [name, column, id, variants] of cases) {
      const schema = defineSchema({ table: s.table(name, { id: column.primaryKey(), v: integer('v') }) });
      const writer = strata(schema);
      await writer.migrate();
      await writer.set(schema, { id, v: 1 } as never);
      const { rows } = await stack.pool.query(`select id::text as id from "${stack.name}"."${name}"`);
      expect(rows.map((r) => r.id)).toEqual([idKey(normalizeId(schema, id))]);
      // A fresh instance finds the row in L2 under every spelling of the id: no L3 read.
      const reader = strata(schema);
      stack.reset();
      for (const variant of [id, ...variants]) {
        expect((await reader.get(schema, variant as never)).v, `${name} ${String(variant)}`).toBe(1);
        expect(idKey(normalizeId(schema, variant))).toBe(rows[0].id);
      }
      expect(stack.statementsOn(name), name).toHaveLength(0);
    }
  });
});

describe('values (issue 12, items 15 and 17)', () => {
  it('item 15: jsonb nested 101 and 5,000 levels is VALIDATION_FAILED on set; nothing reaches Postgres', async () => {
    const s = strata(players);
    for (const levels of [101, 5_000]) {
      const id = `deep${levels}`;
      expect(await codeOf(() => s.set(players, { id, username: id, profile: nested(levels) }))).toBe(
        'VALIDATION_FAILED',
      );
      expect(await codeOf(() => s.setMany(players, [{ id, username: id, profile: nested(levels) }]))).toBe(
        'VALIDATION_FAILED',
      );
      expect(await codeOf(() => s.get(players, id))).toBe('NOT_FOUND');
    }
    expect(await count('players', `id like 'deep%'`)).toBe(0);
  });

  it('item 15: jsonb nested 100 levels works end to end, read back by another instance', async () => {
    const profile = nested(100);
    await strata(players).set(players, { id: 'deep100', username: 'deep100', profile });
    const reader = strata(players);
    expect((await reader.get(players, 'deep100')).profile).toEqual(profile);
    expect(reader.stats().hits.l2).toBe(1);
  });

  it('a lone surrogate in a text value is VALIDATION_FAILED: Postgres would hold another string', async () => {
    const s = strata(players);
    const refused = await s
      .set(players, { id: 'note1', username: 'note1', notes: 'x\uD800' })
      .catch((e) => e);
    expect(isStrataError(refused, 'VALIDATION_FAILED')).toBe(true);
    expect(refused.details.field).toBe('notes');
    expect(await count('players', `id = 'note1'`)).toBe(0);
  });

  it('item 17: encrypted on varchar(20) is INVALID_MODEL at defineSchema (the ciphertext never fits)', () => {
    const table = pgSchema(stack.name).table('secrets', {
      id: text('id').primaryKey(),
      pin: varchar('pin', { length: 20 }),
    });
    const err = (() => {
      try {
        defineSchema({ table, fields: { pin: { encrypted: true } } });
      } catch (e) {
        return e;
      }
    })();
    expect(isStrataError(err, 'INVALID_MODEL')).toBe(true);
    expect((err as { details: { field: string } }).details.field).toBe('pin');
  });

  it('item 18: defineSchema({ table: undefined }) is INVALID_MODEL, not a TypeError', () => {
    expect(() => defineSchema({ table: undefined as never })).toThrow(
      expect.objectContaining({ code: 'INVALID_MODEL' }),
    );
  });
});

describe('limit (issue 12, item 18)', () => {
  it('Q().limit(0) is the default limit: 100 of 150 rows', async () => {
    const items = defineSchema({
      table: pgSchema(stack.name).table('items', { id: integer('id').primaryKey() }),
    });
    const s = strata(items);
    await s.migrate();
    await s.setMany(
      items,
      Array.from({ length: 150 }, (_, i) => ({ id: i })),
    );
    expect(await s.search(items, Q().limit(0).build())).toHaveLength(100);
    expect(await s.searchCached(items, Q().limit(0).orderBy('id').build())).toHaveLength(100);
    await expect(s.count(items, Q().build())).resolves.toBe(150);
    expect(() => Q().limit(-1)).toThrow(expect.objectContaining({ code: 'INVALID_QUERY' }));
  });
});
