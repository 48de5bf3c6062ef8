import { eq, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { Q } from './builder.js';
import { compileQuery } from './compile.js';
import { guildsTable, players, playersTable } from './players.fixture.js';
import type { Query } from './types.js';

const dialect = new PgDialect();

function rejection(query: Query): { code?: string; details?: Record<string, unknown> } {
  try {
    compileQuery(players, query);
  } catch (err) {
    if (isStrataError(err)) return { code: err.code, details: err.details ?? {} };
    throw err;
  }
  return {};
}

describe('compileQuery', () => {
  it('compiles the defaults: primary key order, no where, no projection', () => {
    expect(compileQuery(players, Q().build())).toEqual({
      orderBy: [{ key: 'id', desc: false }],
      limit: 100,
      offset: 0,
    });
  });

  it('compiles the Go library Strata README example', () => {
    const q = Q()
      .where('region = $1 AND level > $2', 'eu-west', 10)
      .orderBy('score')
      .desc()
      .limit(25)
      .offset(50)
      .fields('id', 'username', 'score')
      .build();
    const compiled = compileQuery(players, q);
    expect(compiled).toMatchObject({
      orderBy: [
        { key: 'score', desc: true },
        { key: 'id', desc: true },
      ],
      limit: 25,
      offset: 50,
      fields: ['id', 'username', 'score'],
    });
    const { sql: text, params } = dialect.sqlToQuery(compiled.where!);
    expect({ text, params }).toEqual({ text: '(region = $1 AND level > $2)', params: ['eu-west', 10] });
  });

  it('maps SQL names to JS keys and de-duplicates', () => {
    const q = Q()
      .orderBy('created_at', 'createdAt', 'user_name')
      .fields('user_name', 'username', 'level')
      .build();
    const compiled = compileQuery(players, q);
    expect(compiled.orderBy?.map((o) => o.key)).toEqual(['createdAt', 'username', 'id']);
    expect(compiled.fields).toEqual(['username', 'level']);
  });

  it('does not add the primary key to fields, nor repeat it in orderBy', () => {
    const compiled = compileQuery(players, Q().orderBy('id', 'level').fields('level').build());
    expect(compiled.fields).toEqual(['level']);
    expect(compiled.orderBy?.map((o) => o.key)).toEqual(['id', 'level']);
  });

  it('refuses unknown columns, with the field and a truncated value in details', () => {
    expect(rejection(Q().orderBy('nope').build())).toEqual({
      code: 'INVALID_QUERY',
      details: { field: 'orderBy', schema: 'players', value: 'nope' },
    });
    expect(rejection(Q().fields('id', 'nope').build()).details).toMatchObject({
      field: 'fields',
      value: 'nope',
    });
    const long = rejection(Q().orderBy('x'.repeat(5_000)).build());
    expect(String(long.details?.value).length).toBeLessThanOrEqual(65);
  });

  it('refuses malformed hand-made queries', () => {
    const base = Q().build();
    const cases: [Record<string, unknown>, string][] = [
      [{ orderBy: 'id' }, 'orderBy'],
      [{ orderBy: [1] }, 'orderBy'],
      [{ fields: [null] }, 'fields'],
      [{ limit: -1 }, 'limit'],
      [{ limit: 10_001 }, 'limit'],
      [{ limit: '10' }, 'limit'],
      [{ offset: -1 }, 'offset'],
      [{ offset: 1.5 }, 'offset'],
      [{ desc: 'yes' }, 'desc'],
      [{ where: 'level > 1' }, 'where'],
      [{ where: { text: 'a = $1', args: [] } }, 'where'],
    ];
    for (const [patch, field] of cases) {
      expect(rejection({ ...base, ...patch } as unknown as Query), JSON.stringify(patch)).toMatchObject({
        code: 'INVALID_QUERY',
        details: { field },
      });
    }
    expect(rejection(null as unknown as Query).details).toEqual({ field: 'query' });
  });

  it('refuses the builder itself (no .build()), saying to end it with .build()', () => {
    const builder = Q().where('level > $1', 10) as unknown as Query;
    expect(rejection(builder)).toMatchObject({ code: 'INVALID_QUERY', details: { field: 'query' } });
    expect(() => compileQuery(players, builder)).toThrow(/a query builder: end it with \.build\(\)/);
  });

  it('fills defaults for a partial hand-made query; limit 0 is the default', () => {
    expect(compileQuery(players, {} as Query)).toEqual(compileQuery(players, Q().build()));
    expect(compileQuery(players, { ...Q().build(), limit: 0 }).limit).toBe(100);
  });

  it('passes a Drizzle condition through, even one on another table (Postgres rejects that)', () => {
    const own = eq(playersTable.region, 'eu');
    expect(compileQuery(players, Q().where(own).build()).where).toBe(own);
    const other = eq(guildsTable.level, 1);
    expect(compileQuery(players, Q().where(other).build()).where).toBe(other);
    const raw = sql`level > ${3}`;
    expect(dialect.sqlToQuery(compileQuery(players, Q().where(raw).build()).where!).params).toEqual([3]);
  });

  it('returns frozen output', () => {
    const compiled = compileQuery(players, Q().fields('id').build());
    expect(Object.isFrozen(compiled)).toBe(true);
    expect(Object.isFrozen(compiled.orderBy)).toBe(true);
    expect(Object.isFrozen(compiled.fields)).toBe(true);
  });
});
