import { PgDialect } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { Q } from './builder.js';
import { compileQuery } from './compile.js';
import { injectionCorpus, whereTextInjectionCorpus } from './injection-corpus.js';
import { players } from './players.fixture.js';
import type { Query } from './types.js';
import { whereToSql } from './where.js';

const dialect = new PgDialect();

function fieldOfRejection(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    if (isStrataError(err, 'INVALID_QUERY')) return err.details?.field;
    throw err;
  }
  return 'accepted';
}

const withOrderBy = (value: string): Query => ({ ...Q().build(), orderBy: [value] });
const withFields = (value: string): Query => ({ ...Q().build(), fields: ['id', value] });

describe('injection corpus', () => {
  it.each(injectionCorpus)('refuses $label as an orderBy column', ({ value }) => {
    expect(fieldOfRejection(() => compileQuery(players, withOrderBy(value)))).toBe('orderBy');
  });

  it.each(injectionCorpus)('refuses $label as a fields entry', ({ value }) => {
    expect(fieldOfRejection(() => compileQuery(players, withFields(value)))).toBe('fields');
  });

  it.each(injectionCorpus)('binds $label as a where argument, never as SQL text', ({ value }) => {
    const compiled = compileQuery(players, Q().where('user_name = $1 OR region = $1', value).build());
    const { sql: text, params } = dialect.sqlToQuery(compiled.where!);
    expect(text).toBe('(user_name = $1 OR region = $2)');
    expect(params).toEqual([value, value]);
  });

  // `$$; DROP TABLE players; $$` is one string constant: harmless text, checked below.
  const outsideLiterals = injectionCorpus.filter(
    ({ value }) => /;|--|\/\*/.test(value) && !value.startsWith('$$'),
  );

  it.each(outsideLiterals)('refuses $label as where text', ({ value }) => {
    expect(fieldOfRejection(() => whereToSql(value, []))).toBe('where');
    expect(fieldOfRejection(() => Q().where(value))).toBe('where');
  });

  it('keeps ; inside a dollar-quoted string as part of one string constant', () => {
    const { sql: text, params } = dialect.sqlToQuery(whereToSql('$$; DROP TABLE players; $$', []));
    expect({ text, params }).toEqual({ text: '($$; DROP TABLE players; $$)', params: [] });
  });

  it.each(whereTextInjectionCorpus)('refuses where text: $label', ({ value }) => {
    expect(fieldOfRejection(() => whereToSql(value, []))).toBe('where');
    expect(
      fieldOfRejection(() => compileQuery(players, { ...Q().build(), where: { text: value, args: [] } })),
    ).toBe('where');
  });

  it('keeps an error message short and escaped for a huge or control-character value', () => {
    for (const value of ['a'.repeat(100_000), 'id\u0000; DROP TABLE players', 'id\n; DROP TABLE players']) {
      try {
        compileQuery(players, withOrderBy(value));
        expect.unreachable();
      } catch (err) {
        expect((err as Error).message.length).toBeLessThan(200);
        expect((err as Error).message.includes('\u0000')).toBe(false);
        expect((err as Error).message.includes('\n')).toBe(false);
      }
    }
  });
});
