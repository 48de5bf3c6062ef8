import { integer, pgTable, text } from 'drizzle-orm/pg-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defineSchema, isStrataError, Strata, type StrataErrorCode } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

let stack: EngineStack;

beforeAll(async () => {
  stack = await engineStack('engine_admin');
});
afterAll(() => stack?.cleanup());

const expectCode = (fn: () => unknown, code: StrataErrorCode, field?: string) => {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  expect(isStrataError(caught, code), String(caught)).toBe(true);
  if (field) expect((caught as { details: { field: string } }).details.field).toBe(field);
};

describe('migrate', () => {
  it('creates the tables once; a second run applies and records nothing', async () => {
    const strata = new Strata({ l3: stack.l3, schemas: [defineSchema({ table: stack.tables.players })] });
    const first = await strata.migrate();
    expect(first.applied.length).toBeGreaterThan(0);
    const second = await strata.migrate();
    expect(second.applied).toEqual([]);
    const status = await strata.migrationStatus();
    expect(status.filter((r) => r.schema === 'players').length).toBeGreaterThanOrEqual(1);
  });
});

describe('cache control', () => {
  it('invalidate drops one id from L1 and L2; the next read goes to L3', async () => {
    const schema = defineSchema({ table: stack.tables.players });
    const strata = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schema] });
    await strata.migrate();
    await strata.set(schema, { id: 'i1', username: 'inv' });
    await strata.invalidate(schema, 'i1');
    await strata.get(schema, 'i1');
    expect(strata.stats().hits).toEqual({ l1: 0, l2: 0, l3: 1 });
  });

  it('invalidateAll costs one request whatever the number of rows', async () => {
    const schema = defineSchema({ table: stack.tables.players });
    const strata = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schema] });
    for (let i = 0; i < 50; i++) await strata.set(schema, { id: `all-${i}`, username: `all-${i}` });
    stack.reset();
    await strata.invalidateAll(schema);
    expect(stack.l2Requests).toHaveLength(1);
    const other = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schema] });
    await other.get(schema, 'all-7');
    expect(other.stats().hits.l3).toBe(1);
  });

  it('warmCache loads rows from L3 into L2 and L1 page by page', async () => {
    const schema = defineSchema({ table: stack.tables.players });
    const writer = new Strata({
      l3: stack.l3,
      schemas: [defineSchema({ table: stack.tables.players, l2: false })],
    });
    for (let i = 0; i < 30; i++)
      await writer.set('players', { id: `warm-${String(i).padStart(2, '0')}`, username: `warm-${i}` });
    const strata = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}warm`,
      schemas: [schema],
    });
    const loaded = await strata.warmCache(schema, 25, 10);
    expect(loaded).toBe(25);
    expect(strata.stats().l1Entries).toBe(25);
    const firstIds = await stack.db
      .select({ id: stack.tables.players.id })
      .from(stack.tables.players)
      .orderBy(stack.tables.players.id)
      .limit(2);
    stack.reset();
    for (const { id } of firstIds) await strata.get(schema, id);
    expect(strata.stats().hits.l1).toBe(2);
    expect(stack.statements).toHaveLength(0);
  });

  it('warmCache rejects a bad limit or pageSize with INVALID_QUERY, before reading or caching anything', async () => {
    const schema = defineSchema({ table: stack.tables.players });
    const strata = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: `${stack.keyPrefix}warmbad`,
      schemas: [schema],
    });
    await strata.migrate();
    await new Strata({
      l3: stack.l3,
      schemas: [defineSchema({ table: stack.tables.players, l2: false })],
    }).set('players', { id: 'warmbad-1', username: 'warmbad' });
    stack.reset();
    const bad: [number, number | undefined, string][] = [
      [Number.NaN, undefined, 'limit'],
      [-1, undefined, 'limit'],
      [2.5, undefined, 'limit'],
      [Number.POSITIVE_INFINITY, undefined, 'limit'],
      [10, -1, 'pageSize'],
      [10, 0, 'pageSize'],
      [10, Number.NaN, 'pageSize'],
      [10, 10_001, 'pageSize'],
      ['5' as never, undefined, 'limit'],
    ];
    for (const [limit, pageSize, field] of bad) {
      const err = await strata.warmCache(schema, limit, pageSize).catch((e: unknown) => e);
      expect(isStrataError(err, 'INVALID_QUERY'), `${limit}, ${pageSize}: ${String(err)}`).toBe(true);
      expect((err as { details: { field: string } }).details.field).toBe(field);
    }
    expect(stack.statements).toHaveLength(0);
    expect(stack.l2Requests).toHaveLength(0);
    expect(strata.stats().l1Entries).toBe(0);
    // The bounds themselves are taken.
    expect(await strata.warmCache(schema, 1, 10_000)).toBe(1);
  });
});

describe('bad schemas, configs and arguments get typed errors', () => {
  it('schema errors', () => {
    const noPk = pgTable('no_pk', { a: text('a') });
    expectCode(() => defineSchema({ table: noPk }), 'NO_PRIMARY_KEY');
    const t = pgTable('t', { id: integer('id').primaryKey(), secret: integer('secret') });
    expectCode(
      () => defineSchema({ table: t, fields: { secret: { encrypted: true } } }),
      'INVALID_MODEL',
      'secret',
    );
    expectCode(
      () => defineSchema({ table: t, fields: { nope: { omitCache: true } } as never }),
      'INVALID_MODEL',
      'nope',
    );
    const schema = defineSchema({ table: t });
    const strata = new Strata({ l3: stack.l3, schemas: [schema] });
    expectCode(() => strata.register(schema), 'SCHEMA_DUPLICATE');
    return expect(strata.get('unknown', 1)).rejects.toMatchObject({ code: 'SCHEMA_NOT_FOUND' });
  });

  it('config errors name the field', () => {
    expectCode(() => new Strata({ ttl: { l1: '5 minutes' as never } }), 'INVALID_CONFIG', 'ttl.l1');
    expectCode(() => new Strata({ encryptionKey: new Uint8Array(31) }), 'INVALID_CONFIG');
    expectCode(() => new Strata({ l2: {} as never }), 'INVALID_CONFIG', 'l2');
    expectCode(() => new Strata({ l1: { maxEntries: -1 } }), 'INVALID_CONFIG', 'l1.maxEntries');
    expectCode(() => new Strata({ colour: 'blue' } as never), 'INVALID_CONFIG', 'colour');
    const t = pgTable('t2', { id: text('id').primaryKey(), k: text('k') });
    expectCode(
      () =>
        new Strata({
          l3: stack.l3,
          schemas: [defineSchema({ table: t, fields: { k: { encrypted: true } } })],
        }),
      'INVALID_CONFIG',
      'encryptionKey',
    );
  });

  it('bad ids never reach a tier', async () => {
    const t = pgTable('t3', { id: integer('id').primaryKey() });
    const schema = defineSchema({ table: t });
    const strata = new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schema] });
    stack.reset();
    for (const id of ['', '4x', Number.NaN, {} as never]) {
      await expect(strata.get(schema, id)).rejects.toMatchObject({ code: 'MISSING_PRIMARY_KEY' });
    }
    expect(stack.l2Requests).toHaveLength(0);
    expect(stack.statements).toHaveLength(0);
  });
});
