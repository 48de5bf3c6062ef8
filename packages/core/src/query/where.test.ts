import { sql } from 'drizzle-orm';
import { PgDialect } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { whereConditionToSql, whereToSql } from './where.js';

const dialect = new PgDialect();
const toQuery = (cond: Parameters<PgDialect['sqlToQuery']>[0]) => {
  const { sql: text, params } = dialect.sqlToQuery(cond);
  return { sql: text, params };
};
const render = (text: string, ...args: unknown[]) => toQuery(whereToSql(text, args));

function rejects(text: string, args: unknown[], pattern?: RegExp): void {
  let caught: unknown;
  try {
    whereToSql(text, args);
  } catch (err) {
    caught = err;
  }
  expect(isStrataError(caught, 'INVALID_QUERY'), `expected INVALID_QUERY for ${JSON.stringify(text)}`).toBe(
    true,
  );
  expect((caught as { details?: Record<string, unknown> }).details?.field).toBe('where');
  if (pattern) expect((caught as Error).message).toMatch(pattern);
}

describe('whereToSql', () => {
  it('binds every placeholder as a parameter, in order', () => {
    expect(render('region = $1 AND level > $2', 'eu-west', 10)).toEqual({
      sql: '(region = $1 AND level > $2)',
      params: ['eu-west', 10],
    });
  });

  it('follows the placeholders, not the argument order, and binds a reused $n twice', () => {
    expect(render('a = $2 OR b = $1 OR c = $2', 'one', 'two')).toEqual({
      sql: '(a = $1 OR b = $2 OR c = $3)',
      params: ['two', 'one', 'two'],
    });
  });

  it('numbers its parameters after those of an enclosing statement', () => {
    const query = toQuery(sql`select * from t where x = ${'first'} and ${whereToSql('y = $1', [2])}`);
    expect(query).toEqual({ sql: 'select * from t where x = $1 and (y = $2)', params: ['first', 2] });
  });

  it('leaves $n inside literals, quoted identifiers, dollar quotes and identifiers alone', () => {
    const text = `a = $1 AND b = '$2 it''s' AND "c$3""x" = E'\\'$4' AND d = $$ $5 $$ AND e = $t$ $6 $t$ AND f$7 = 1`;
    const { sql: out, params } = render(text, 'v');
    expect(params).toEqual(['v']);
    expect(out).toBe(`(${text})`);
  });

  it('keeps ; -- and /* inside literals and identifiers', () => {
    const text = `a = 'x; -- /*' AND "b;--" = $$ ; /* $$`;
    expect(render(text)).toEqual({ sql: `(${text})`, params: [] });
  });

  it('collapses whitespace outside literals, keeping a newline (string continuation)', () => {
    expect(render("  a =\t$1\n\n  AND   b = 'x   y'  ", 1).sql).toBe("(a = $1\nAND b = 'x   y')");
  });

  it('binds every supported value type as one parameter, unchanged', () => {
    const date = new Date('2024-01-02T03:04:05Z');
    const bytes = new Uint8Array([1, 2]);
    const args = ['s', 1.5, 2n, true, date, bytes, null, ['a', 'b'], { k: [1, { n: null }] }, Number.NaN];
    const text = args.map((_, i) => `c${i} = $${i + 1}`).join(' AND ');
    const { params } = render(text, ...args);
    expect(params).toEqual(args);
    expect(params[4]).toBe(date);
    expect(params[7]).toBe(args[7]);
  });

  it('binds an array as one parameter for = ANY($1)', () => {
    expect(render('id = ANY($1)', ['a', 'b'])).toEqual({ sql: '(id = ANY($1))', params: [['a', 'b']] });
  });

  it('refuses a placeholder without an argument, and $0', () => {
    rejects('a = $1 AND b = $3', [1, 2], /\$3 has no argument/);
    rejects('a = $1', [], /\$1 has no argument/);
    rejects('a = $0', [1], /\$0/);
    rejects('a = $00', [1], /\$0/);
    rejects('a = $99999999999999999999', [1], /no argument/);
  });

  it('refuses arguments that no placeholder uses', () => {
    rejects('a = $1', [1, 2], /\$2 is not used/);
    rejects("a = '$1'", [1], /\$1 is not used/);
    rejects('level > 10', [1], /\$1 is not used/);
  });

  it('tells a caller who wrote ? placeholders (mysql2, SQLite, JDBC) to write $1', () => {
    rejects(
      'level > ?',
      [10],
      /\$1 is not used by any placeholder: write \$1, \$2, … for the arguments, not \?/,
    );
    rejects('region = ? AND level > ?', ['eu-west', 10], /write \$1, \$2, …/);
    // A jsonb `?` operator next to real placeholders is SQL: the plain message, no hint.
    let message = '';
    try {
      whereToSql("tags ? 'x' AND a = $1", [1, 2]);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe('strata: where: argument $2 is not used by any placeholder');
  });

  it('refuses statement separators, comments and junk after a placeholder', () => {
    rejects('a = $1; DROP TABLE players', [1], /";"/);
    rejects('a = $1 -- x', [1], /comment/);
    rejects('a = $1 /* x */', [1], /comment/);
    rejects('a = $1abc', [1], /junk/);
  });

  it('refuses unterminated quotes and unbalanced parentheses', () => {
    rejects("a = 'x", [], /unterminated string/);
    rejects("a = E'x\\'", [], /unterminated string/);
    rejects('a = "x', [], /unterminated quoted identifier/);
    rejects('a = $$x', [], /unterminated dollar/);
    rejects('a = $t$x$u$', [], /unterminated dollar/);
    rejects('(a = 1', [], /unbalanced/);
    rejects('a = 1)', [], /unbalanced/);
  });

  it("refuses \\' in a plain literal: its end depends on standard_conforming_strings", () => {
    rejects("a = 'x\\''; DROP TABLE players; --'", [], /ambiguous/);
    expect(render("a = E'x\\'y'").sql).toBe("(a = E'x\\'y')");
    expect(render("a = 'C:\\dir'").sql).toBe("(a = 'C:\\dir')");
  });

  it('refuses empty, blank, over-long and NUL text, and non-string text', () => {
    rejects('', [], /empty/);
    rejects(' \n ', [], /empty/);
    rejects(`a = 1 AND ${'b = 1 AND '.repeat(1_000)}c = 1`, [], /longer than 10000/);
    rejects('a = $1\u0000', [1], /NUL/);
    rejects(42 as unknown as string, [], /string/);
  });

  it('accepts text right at the length limit', () => {
    const text = `a = $1${' '.repeat(10_000 - 6)}`;
    expect(render(text, 1).sql).toBe('(a = $1)');
  });

  it('refuses arguments a driver cannot bind as one value', () => {
    rejects('a = $1', [undefined], /undefined/);
    rejects('a = $1', [() => 1], /function/);
    rejects('a = $1', [Symbol('s')], /symbol/);
    rejects('a = $1', [new Date(Number.NaN)], /invalid Date/);
    rejects('a = $1', [new Map()], /plain object/);
    rejects('a = $1', [sql`1; DROP TABLE players`], /Drizzle/);
    rejects('a = $1', [sql.placeholder('x')], /Drizzle/);
    rejects('a = $1', [{ big: 1n }], /bigint/);
    rejects('a = $1', [{ n: Number.POSITIVE_INFINITY }], /finite/);
    rejects('a = $1', [{ b: new Uint8Array(1) }], /bytes/);
    rejects('a = $1', [[1, undefined]], /undefined/);
    const cycle: Record<string, unknown> = {};
    cycle.self = cycle;
    rejects('a = $1', [cycle], /cycle/);
    let deep: unknown = 1;
    for (let i = 0; i < 40; i++) deep = [deep];
    rejects('a = $1', [deep], /deeper/);
    rejects('a = $1', 'x' as unknown as unknown[], /array/);
  });

  it('accepts the same object twice (not a cycle) and undefined properties in JSON', () => {
    const shared = { x: 1 };
    expect(render('a = $1', { p: shared, q: shared, r: undefined }).params).toHaveLength(1);
  });
});

describe('whereConditionToSql', () => {
  it('passes a Drizzle SQL through and compiles text', () => {
    const cond = sql`level > ${5}`;
    expect(whereConditionToSql(cond)).toBe(cond);
    expect(dialect.sqlToQuery(whereConditionToSql({ text: 'level > $1', args: [5] })).params).toEqual([5]);
  });

  it('refuses anything else, without throwing a TypeError on prototype-less objects', () => {
    for (const bad of [Object.create(null), { text: 'a' }, 'level > 1', 42]) {
      expect(() => whereConditionToSql(bad)).toThrow(expect.objectContaining({ code: 'INVALID_QUERY' }));
    }
  });
});

describe('whereToSql error positions', () => {
  it('count from the start of the text as given, leading whitespace included', () => {
    try {
      whereToSql('  a = 1;', []);
      expect.unreachable();
    } catch (err) {
      expect((err as { details?: Record<string, unknown> }).details).toEqual({ field: 'where', position: 7 });
    }
  });
});
