import { and, eq, gt, sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import type { ColumnKey } from '../schema/define-schema.js';
import { Q } from './builder.js';
import { playersTable } from './players.fixture.js';

const dialect = new PgDialect();

function code(fn: () => unknown): { code?: string; field?: unknown } {
  try {
    fn();
  } catch (err) {
    if (isStrataError(err)) return { code: err.code, field: err.details?.field };
    throw err;
  }
  return {};
}

describe('Q()', () => {
  it('has the defaults of the Go library Strata', () => {
    expect(Q().build()).toEqual({
      orderBy: [],
      desc: false,
      limit: 100,
      offset: 0,
      fields: [],
      forceL3: false,
      forceL2: false,
    });
    expect('where' in Q().build()).toBe(false);
  });

  it('chains every option (the Go library Strata README example)', () => {
    const q = Q()
      .where('region = $1 AND level > $2', 'eu-west', 10)
      .orderBy('score')
      .desc()
      .limit(25)
      .offset(50)
      .fields('id', 'username', 'score')
      .forceL2()
      .forceL3()
      .build();
    expect(q).toEqual({
      where: { text: 'region = $1 AND level > $2', args: ['eu-west', 10] },
      orderBy: ['score'],
      desc: true,
      limit: 25,
      offset: 50,
      fields: ['id', 'username', 'score'],
      forceL3: true,
      forceL2: true,
    });
  });

  it('builds frozen plain data', () => {
    const q = Q().where('a = $1', 1).orderBy('a').fields('b').build();
    expect(Object.isFrozen(q)).toBe(true);
    expect(Object.isFrozen(q.orderBy)).toBe(true);
    expect(Object.isFrozen(q.fields)).toBe(true);
    expect(Object.isFrozen(q.where)).toBe(true);
  });

  it('is immutable: a base builder can be refined twice', () => {
    const base = Q().where('level > $1', 10);
    const a = base.orderBy('score').limit(5).build();
    const b = base.desc().build();
    expect(a.orderBy).toEqual(['score']);
    expect(b.orderBy).toEqual([]);
    expect(a.desc).toBe(false);
    expect(base.build().limit).toBe(100);
    expect(Q().desc().asc().build().desc).toBe(false);
  });

  it('appends orderBy and fields across calls', () => {
    const q = Q().orderBy('a').orderBy('b', 'c').fields('x').fields('y').build();
    expect(q.orderBy).toEqual(['a', 'b', 'c']);
    expect(q.fields).toEqual(['x', 'y']);
  });

  it('copies the arguments, so later changes to the caller array do not leak in', () => {
    const args: unknown[] = [1];
    const q = Q()
      .where('a = $1', ...args)
      .build();
    args[0] = 2;
    expect(q.where).toEqual({ text: 'a = $1', args: [1] });
  });

  it('takes a Drizzle condition, and ignores undefined (an empty and())', () => {
    const cond = gt(playersTable.level, 10);
    expect(Q().where(cond).build().where).toBe(cond);
    expect(Q().where(and()).build().where).toBeUndefined();
  });

  it('combines two where calls with AND, each text numbered from $1', () => {
    const q = Q().where('region = $1', 'eu').where('level > $1', 10).build();
    const { sql: text, params } = dialect.sqlToQuery(q.where as ReturnType<typeof sql>);
    expect(text).toBe('((region = $1) and (level > $2))');
    expect(params).toEqual(['eu', 10]);
  });

  it('combines text and a Drizzle condition', () => {
    const q = Q().where('region = $1', 'eu').where(eq(playersTable.level, 3)).build();
    const { sql: text, params } = dialect.sqlToQuery(q.where as ReturnType<typeof sql>);
    expect(text).toBe('((region = $1) and "players"."level" = $2)');
    expect(params).toEqual(['eu', 3]);
  });

  it('checks where text, limit and offset at the call', () => {
    expect(code(() => Q().where('a = $1; DROP TABLE x', 1))).toEqual({
      code: 'INVALID_QUERY',
      field: 'where',
    });
    expect(code(() => Q().where('a = $2', 1))).toEqual({ code: 'INVALID_QUERY', field: 'where' });
    expect(code(() => Q().where(sql`a`, ...([1] as unknown as [])))).toEqual({
      code: 'INVALID_QUERY',
      field: 'where',
    });
    expect(code(() => Q().where(42 as unknown as string))).toEqual({ code: 'INVALID_QUERY', field: 'where' });
    for (const n of [-1, 1.5, 10_001, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(code(() => Q().limit(n))).toEqual({ code: 'INVALID_QUERY', field: 'limit' });
    }
    for (const n of [-1, 0.5, Number.NaN, 2 ** 53]) {
      expect(code(() => Q().offset(n))).toEqual({ code: 'INVALID_QUERY', field: 'offset' });
    }
    expect(Q().limit(1).limit(10_000).offset(0).build()).toMatchObject({ limit: 10_000, offset: 0 });
  });

  it('takes limit(0) as the default, 100, as the Go library Strata documents (issue 12, item 18)', () => {
    expect(Q().limit(0).build().limit).toBe(100);
    expect(Q().limit(25).limit(0).build().limit).toBe(100);
  });

  it('narrows column names when given the table keys', () => {
    const q = Q<ColumnKey<typeof playersTable>>().orderBy('level').fields('id', 'username');
    // @ts-expect-error not a column of players
    q.orderBy('nope');
    expect(q.build().fields).toEqual(['id', 'username']);
  });
});
