import {
  bigint,
  bigserial,
  boolean,
  char,
  date,
  doublePrecision,
  integer,
  jsonb,
  numeric,
  pgEnum,
  pgSchema,
  pgTable,
  real,
  serial,
  smallint,
  smallserial,
  text,
  timestamp,
  uuid,
  varchar,
} from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { defineSchema } from './define-schema.js';

function refusal(define: () => unknown): { code: string; field: unknown; message: string } {
  try {
    define();
  } catch (err) {
    if (!isStrataError(err)) throw err;
    return { code: err.code, field: err.details?.field, message: err.message };
  }
  throw new Error('defineSchema accepted it');
}

describe('defineSchema identity', () => {
  it('is the qualified table name: the Postgres schema keeps two tenants apart', () => {
    const table = () => ({ id: text('id').primaryKey() });
    const a = defineSchema({ table: pgSchema('tenant_a').table('players', table()) });
    const b = defineSchema({ table: pgSchema('tenant_b').table('players', table()) });
    const plain = defineSchema({ table: pgTable('players', table()), name: 'renamed' });
    expect([a.identity, b.identity, plain.identity]).toEqual([
      'tenant_a.players',
      'tenant_b.players',
      'players',
    ]);
    expect([a.name, b.name]).toEqual(['players', 'players']);
  });
});

describe('defineSchema refuses what cannot hold, with INVALID_MODEL', () => {
  it('anything that is not a Drizzle pg table (issue 12, item 18)', () => {
    for (const table of [undefined, null, {}, Object.create(null), 'players', 42]) {
      expect(refusal(() => defineSchema({ table: table as never }))).toMatchObject({
        code: 'INVALID_MODEL',
        field: 'table',
      });
    }
    expect(refusal(() => defineSchema(undefined as never)).code).toBe('INVALID_MODEL');
  });

  it('an option it does not know, at any level (a typo in plain JS would be ignored silently)', () => {
    const table = pgTable('typos', { id: text('id').primaryKey(), n: text('n') });
    const typos: [Record<string, unknown>, string][] = [
      [{ writemode: 'write-behind' }, 'writemode'],
      [{ l1: { tll: '5s' } }, 'l1.tll'],
      [{ l2: { ttl: '1m', keyprefix: 'x' } }, 'l2.keyprefix'],
      [{ l3: { replicaRead: 'all' } }, 'l3.replicaRead'],
      [{ hooks: { beforeset: () => {} } }, 'hooks.beforeset'],
      [{ fields: { n: { encrpyted: true } } }, 'fields.n.encrpyted'],
    ];
    for (const [extra, field] of typos) {
      const error = refusal(() => defineSchema({ table, ...extra } as never));
      expect(error).toMatchObject({ code: 'INVALID_MODEL', field });
      expect(error.message).toContain(`unknown option ${field}`);
    }
    // Every documented option, at every level, is taken.
    const full = defineSchema({
      table,
      name: 'typos_ok',
      l1: { ttl: '5s', maxEntries: 10, eviction: 'lru' },
      l2: { ttl: '1m', keyPrefix: 'typos' },
      l3: { replicaReads: 'search' },
      writeMode: 'write-through',
      fields: { n: { omitL1: true, autoNow: false, autoNowAdd: false, omitCache: false, encrypted: false } },
      indexes: [],
      hooks: { beforeSet: () => {}, afterSet: () => {}, beforeGet: () => {}, afterGet: () => {} },
      negativeTtl: '1s',
      stale: '1m',
      grace: '1h',
      tags: () => [],
    });
    expect(full.name).toBe('typos_ok');
  });

  it('an l2.keyPrefix that is not [A-Za-z0-9_.-]{1,64}', () => {
    const table = pgTable('kp', { id: text('id').primaryKey() });
    for (const keyPrefix of ['', 'a b', 'a:b', 'x'.repeat(65), '*', 42]) {
      expect(refusal(() => defineSchema({ table, l2: { keyPrefix: keyPrefix as never } }))).toMatchObject({
        code: 'INVALID_MODEL',
        field: 'l2.keyPrefix',
      });
    }
    expect(defineSchema({ table, l2: { keyPrefix: 'app.v2_players-1' } }).l2).toEqual({
      keyPrefix: 'app.v2_players-1',
    });
  });

  it('a policy value register would refuse (a bad duration, an unknown mode), naming the option', () => {
    const table = pgTable('pol', { id: text('id').primaryKey() });
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ l1: { ttl: 'five minutes' } }, 'l1.ttl', /invalid duration for l1\.ttl: "five minutes"/],
      [{ l2: { ttl: -1 } }, 'l2.ttl', /must not be negative/],
      [{ negativeTtl: '5x' }, 'negativeTtl', /negativeTtl/],
      [{ stale: Number.NaN }, 'stale', /stale: /],
      [{ grace: '1 h' }, 'grace', /grace/],
      [{ writeMode: 'write_behind' }, 'writeMode', /writeMode: .*"write-through-l1-async"/],
      [{ l1: { eviction: 'LRU' } }, 'l1.eviction', /l1\.eviction: .*"sieve"/],
      [{ l3: { replicaReads: 'every' } }, 'l3.replicaReads', /l3\.replicaReads: .*"search"/],
      [{ l1: { maxEntries: 1.5 } }, 'l1.maxEntries', /l1\.maxEntries: /],
      [{ l2: { ttl: '1m' }, l1: { ttl: true } }, 'l1.ttl', /l1\.ttl: /],
    ];
    for (const [options, field, message] of cases) {
      const refused = refusal(() => defineSchema({ table, ...(options as object) }));
      expect(refused).toMatchObject({ code: 'INVALID_MODEL', field });
      expect(refused.message).toMatch(message);
      expect(refused.message).toMatch(/^strata: schema pol: /);
    }
    const fine = defineSchema({
      table,
      l1: { ttl: '5m', maxEntries: 0, eviction: 'lru' },
      l2: false,
      stale: 0,
    });
    expect(fine.l1).toEqual({ ttl: '5m', maxEntries: 0, eviction: 'lru' });
  });

  // The Go library took a DSN: untyped, a string here used to pass and fail the first `search` with a
  // bare TypeError ("found.map is not a function", no code).
  it('an l3.readReplica that is not an L3 (a DSN string, as the Go library took)', () => {
    const table = pgTable('rr', { id: text('id').primaryKey() });
    for (const readReplica of ['postgres://postgres@127.0.0.1:5432/replica', {}, 42]) {
      expect(refusal(() => defineSchema({ table, l3: { readReplica: readReplica as never } }))).toMatchObject(
        {
          code: 'INVALID_MODEL',
          field: 'l3.readReplica',
        },
      );
    }
  });

  // Each option that names a column (by its JS key): one naming none used to pass defineSchema and fail
  // only at migrate(), naming no field, or never where drizzle-kit creates the tables.
  describe('an option naming no column of the table', () => {
    const table = pgTable('cols', {
      id: text('id').primaryKey(),
      createdAt: timestamp('created_at'),
      level: integer('level'),
    });
    const columns = '; its columns: id, createdAt, level';

    it('l3.partitionBy', () => {
      expect(refusal(() => defineSchema({ table, l3: { partitionBy: 'nope' as never } }))).toEqual({
        code: 'INVALID_MODEL',
        field: 'l3.partitionBy',
        message: `strata: schema cols: l3.partitionBy names no column of the table: nope${columns}`,
      });
      // Its SQL name where the key is meant: the key is named. Not a string at all: refused too.
      const bySqlName = refusal(() => defineSchema({ table, l3: { partitionBy: 'created_at' as never } }));
      expect(bySqlName).toMatchObject({ code: 'INVALID_MODEL', field: 'l3.partitionBy' });
      expect(bySqlName.message).toContain('created_at (did you mean createdAt?)');
      expect(
        refusal(() => defineSchema({ table, l3: { partitionBy: table.createdAt as never } })),
      ).toMatchObject({
        code: 'INVALID_MODEL',
        field: 'l3.partitionBy',
      });
      expect(defineSchema({ table, l3: { partitionBy: 'id' } }).l3).toEqual({ partitionBy: 'id' });
      expect(defineSchema({ table, l3: false }).l3).toBe(false);
    });

    it('indexes[i].fields[j], and an index with no fields', () => {
      const indexes = [{ fields: ['level'] }, { fields: ['level', 'nope'], unique: true }];
      expect(refusal(() => defineSchema({ table, indexes: indexes as never }))).toEqual({
        code: 'INVALID_MODEL',
        field: 'indexes.1.fields.1',
        message: `strata: schema cols: indexes.1.fields.1 names no column of the table: nope${columns}`,
      });
      expect(
        refusal(() => defineSchema({ table, indexes: [{ fields: ['created_at' as never] }] })),
      ).toMatchObject({
        code: 'INVALID_MODEL',
        field: 'indexes.0.fields.0',
        message: expect.stringContaining('(did you mean createdAt?)'),
      });
      for (const bad of [[{ fields: [] }], [{}], [{ fileds: ['level'] }]]) {
        expect(refusal(() => defineSchema({ table, indexes: bad as never })).code).toBe('INVALID_MODEL');
      }
      expect(refusal(() => defineSchema({ table, indexes: [{ fields: [] }] })).field).toBe(
        'indexes.0.fields',
      );
      for (const odd of [{ fields: ['level'] }, [null], [{ fields: 'nope' }], [{ fields: {} }]]) {
        expect(refusal(() => defineSchema({ table, indexes: odd as never })).code).toBe('INVALID_MODEL');
      }
      expect(defineSchema({ table, indexes: [{ fields: ['createdAt', 'level'] }] }).indexes).toHaveLength(1);
    });

    it('an index option it does not know (a misspelt `unique` made a plain index)', () => {
      const refused = refusal(() =>
        defineSchema({ table, indexes: [{ fields: ['level'], uniqe: true } as never] }),
      );
      expect(refused).toMatchObject({ code: 'INVALID_MODEL', field: 'indexes.0.uniqe' });
      expect(refused.message).toContain('unknown option indexes.0.uniqe (known: fields, unique, name)');
    });

    it('fields.<key>, with encrypted or any other field option', () => {
      for (const options of [{ encrypted: true }, { omitCache: true }, { autoNow: true }]) {
        const refused = refusal(() => defineSchema({ table, fields: { nope: options } as never }));
        expect(refused).toMatchObject({ code: 'INVALID_MODEL', field: 'nope' });
        expect(refused.message).toContain('fields.nope names no column of the table');
      }
    });
  });

  it('columns named _strata_…, by JS key or SQL name', () => {
    const byKey = pgTable('r1', { id: text('id').primaryKey(), _strata_v: text('v') });
    const byName = pgTable('r2', { id: text('id').primaryKey(), v: integer('_strata_version') });
    const upper = pgTable('r3', { id: text('id').primaryKey(), v: integer('_STRATA_x') });
    expect(refusal(() => defineSchema({ table: byKey }))).toMatchObject({
      code: 'INVALID_MODEL',
      field: '_strata_v',
    });
    expect(refusal(() => defineSchema({ table: byName }))).toMatchObject({
      code: 'INVALID_MODEL',
      field: 'v',
    });
    expect(refusal(() => defineSchema({ table: upper })).code).toBe('INVALID_MODEL');
    expect(
      defineSchema({ table: pgTable('r4', { id: text('id').primaryKey(), strata_x: text('strata_x') }) }),
    ).toBeTruthy();
  });

  it('encrypted on a string column of bounded length (issue 12, item 17): use text', () => {
    const table = pgTable('enc', {
      id: text('id').primaryKey(),
      v20: varchar('v20', { length: 20 }),
      c5: char('c5', { length: 5 }),
      c: char('c'),
      u: uuid('u'),
      n: integer('n'),
      t: text('t'),
      v: varchar('v'),
    });
    for (const field of ['v20', 'c5', 'c', 'u', 'n'] as const) {
      const refused = refusal(() => defineSchema({ table, fields: { [field]: { encrypted: true } } }));
      expect(refused, field).toMatchObject({ code: 'INVALID_MODEL', field });
    }
    expect(refusal(() => defineSchema({ table, fields: { v20: { encrypted: true } } })).message).toMatch(
      /varchar\(20\).*use text/,
    );
    expect(
      defineSchema({ table, fields: { t: { encrypted: true }, v: { encrypted: true } } }).encryptedKeys,
    ).toEqual(['t', 'v']);
  });
});

describe('a table without a primary key', () => {
  it('is NO_PRIMARY_KEY, naming the table and what to do', () => {
    const refused = refusal(() => defineSchema({ table: pgTable('no_pk', { id: text('id') }) }));
    expect(refused.code).toBe('NO_PRIMARY_KEY');
    expect(refused.message).toBe(
      'strata: schema no_pk: table no_pk has no primary key: mark its key column .primaryKey()',
    );
  });
});

describe('primary key types: only those whose pk::text is the cache key', () => {
  const status = pgEnum('status', ['a', 'b']);
  const cases: [string, () => unknown, string | null][] = [
    ['text', () => text('id'), 'string'],
    ['text enum', () => text('id', { enum: ['a', 'b'] }), 'string'],
    ['varchar', () => varchar('id'), 'string'],
    ['varchar(36)', () => varchar('id', { length: 36 }), 'string'],
    ['uuid', () => uuid('id'), 'uuid'],
    ['smallint', () => smallint('id'), 'integer'],
    ['integer', () => integer('id'), 'integer'],
    ['bigint number', () => bigint('id', { mode: 'number' }), 'integer'],
    ['bigint bigint', () => bigint('id', { mode: 'bigint' }), 'bigint'],
    ['serial', () => serial('id'), 'integer'],
    ['smallserial', () => smallserial('id'), 'integer'],
    ['bigserial number', () => bigserial('id', { mode: 'number' }), 'integer'],
    ['bigserial bigint', () => bigserial('id', { mode: 'bigint' }), 'bigint'],
    ['numeric', () => numeric('id'), null],
    ['char(8)', () => char('id', { length: 8 }), null],
    ['timestamp', () => timestamp('id'), null],
    ['date', () => date('id'), null],
    ['double precision', () => doublePrecision('id'), null],
    ['real', () => real('id'), null],
    ['boolean', () => boolean('id'), null],
    ['jsonb', () => jsonb('id'), null],
    ['pg enum', () => status('id'), null],
  ];
  for (const [label, column, kind] of cases) {
    it(`${label}: ${kind ?? 'refused'}`, () => {
      const table = pgTable('pk', { id: (column() as ReturnType<typeof text>).primaryKey() });
      if (kind) {
        expect(defineSchema({ table }).idRule.kind).toBe(kind);
        return;
      }
      const refused = refusal(() => defineSchema({ table }));
      expect(refused).toMatchObject({ code: 'INVALID_MODEL', field: 'id' });
      expect(refused.message).toContain('text, varchar, uuid, smallint, integer, bigint, serial');
    });
  }

  it('integer kinds carry the column range', () => {
    const range = (column: unknown) =>
      defineSchema({ table: pgTable('r', { id: column as ReturnType<typeof integer> }) }).idRule;
    expect(range(smallint('id').primaryKey())).toEqual({ kind: 'integer', min: -32_768, max: 32_767 });
    expect(range(serial('id').primaryKey())).toEqual({ kind: 'integer', min: -(2 ** 31), max: 2 ** 31 - 1 });
  });
});

describe('fingerprint', () => {
  it('differs when another set of columns is cached (issue 12 item 7: omitCache)', () => {
    const table = pgTable('fp', { id: text('id').primaryKey(), a: text('a'), b: text('b') });
    const all = defineSchema({ table });
    const noA = defineSchema({ table, fields: { a: { omitCache: true } } });
    const noB = defineSchema({ table, fields: { b: { omitCache: true } } });
    const onlyL1 = defineSchema({ table, fields: { a: { omitL1: true } } });
    expect(new Set([all.fingerprint, noA.fingerprint, noB.fingerprint]).size).toBe(3);
    // omitL1 changes nothing in L2, so the L2 keys stay shared.
    expect(onlyL1.fingerprint).toBe(all.fingerprint);
    expect(defineSchema({ table, fields: { a: { encrypted: true } } }).fingerprint).not.toBe(all.fingerprint);
  });
});
