/**
 * Hostile strings for tests, shared with the engine's integration tests against real Postgres.
 *
 * - Every entry must be refused as an `orderBy` column or a `fields` entry (INVALID_QUERY), whatever
 *   the schema (none is a plausible column name: `ID`, `ｉｄ`, `"id"` are deliberately near misses).
 * - Every entry must be harmless as a where ARGUMENT: it travels as a bound parameter and matches
 *   nothing. Postgres itself rejects text containing U+0000 (SQLSTATE 22021), so against a real
 *   database those entries fail with a driver error instead — still without running anything.
 */
interface InjectionCase {
  label: string;
  value: string;
}

export const injectionCorpus: readonly InjectionCase[] = [
  { label: 'quote, drop table, comment', value: "'; DROP TABLE players; --" },
  { label: 'quote tautology', value: "' OR '1'='1" },
  { label: 'bare tautology', value: '1 OR 1=1' },
  { label: 'close quoted identifier', value: '") OR 1=1 --' },
  { label: 'statement after column', value: 'id; DELETE FROM x' },
  { label: 'subquery in order list', value: 'level DESC, (SELECT pg_sleep(10))' },
  { label: 'direction suffix', value: 'score DESC NULLS LAST' },
  { label: 'placeholder', value: '$1' },
  { label: 'dollar-quoted statement', value: '$$; DROP TABLE players; $$' },
  { label: 'qualified quoted column', value: 'players"."id' },
  { label: 'quote then statement', value: '"; select 1; --' },
  { label: 'backslash-escaped quote', value: "\\'; DROP TABLE players; --" },
  { label: 'E-string escape', value: "E'\\''; DROP TABLE players; --'" },
  { label: 'backslashes', value: '\\\\' },
  { label: 'NUL then statement', value: 'id\u0000; DROP TABLE players' },
  { label: 'trailing NUL', value: 'id\u0000' },
  { label: 'fullwidth homoglyph', value: 'ｉｄ' },
  { label: 'cyrillic homoglyph', value: 'іd' },
  { label: 'zero-width space', value: 'id\u200b' },
  { label: 'fullwidth semicolon', value: 'id；DROP TABLE players' },
  { label: 'wrong case', value: 'ID' },
  { label: 'leading space', value: ' id' },
  { label: 'trailing newline', value: 'id\n' },
  { label: 'newline then statement', value: 'id\n; DROP TABLE players' },
  { label: 'quoted column', value: '"id"' },
  { label: 'table-qualified column', value: 'players.id' },
  { label: 'two columns', value: 'id, username' },
  { label: 'parenthesised column', value: '(id)' },
  { label: 'ordinal position', value: '1' },
  { label: 'empty', value: '' },
  { label: 'star', value: '*' },
  { label: 'block comment', value: 'id /* x */' },
  { label: 'open comment', value: '/*' },
  { label: 'line comment', value: '-- x' },
  { label: 'sleep', value: "'; SELECT pg_sleep(10); --" },
  { label: 'case expression', value: 'CASE WHEN (SELECT true) THEN id END' },
  { label: 'LIKE wildcard escape', value: "%' OR 1=1 --" },
  { label: 'unicode escape identifier', value: 'U&"\\0069d"' },
  { label: 'line separator', value: '\u2028' },
  { label: 'emoji', value: '🙂' },
  { label: 'lone surrogate', value: '\ud800' },
  { label: 'prototype key', value: '__proto__' },
  { label: 'constructor key', value: 'constructor' },
  { label: 'toString key', value: 'toString' },
  { label: 'null word', value: 'null' },
  { label: 'very long name', value: 'a'.repeat(100_000) },
  { label: 'many quotes', value: "'".repeat(10_001) },
];

/** The corpus values alone. */
export const INJECTION_CORPUS: readonly string[] = injectionCorpus.map((c) => c.value);

/**
 * WHERE TEXT that tries to escape the one condition: each must be refused (INVALID_QUERY, field
 * 'where') before any SQL is built. Some hide the payload behind literal syntax that a naive
 * scanner gets wrong (`E'\''`, `\'` under standard_conforming_strings=off, dollar quotes).
 */
export const whereTextInjectionCorpus: readonly InjectionCase[] = [
  { label: 'second statement', value: 'level > 1; DROP TABLE players' },
  { label: 'trailing separator', value: 'level > 1;' },
  { label: 'line comment', value: 'level > 1 -- and region = $1' },
  { label: 'block comment', value: 'level > 1 /* */' },
  { label: 'unterminated block comment', value: 'level > 1 /*' },
  { label: 'close the clause', value: 'true) UNION SELECT * FROM pg_user WHERE (true' },
  { label: 'unbalanced open', value: '(level > 1' },
  { label: 'E-string escaped quote', value: "name = E'\\''; DROP TABLE players; --'" },
  { label: 'backslash quote (scs off)', value: "name = '\\''; DROP TABLE players; --'" },
  { label: 'unterminated string', value: "name = 'abc" },
  { label: 'unterminated identifier', value: 'name = "abc' },
  { label: 'unterminated dollar quote', value: 'name = $q$abc' },
  { label: 'statement after dollar quote', value: 'name = $$x$$; DROP TABLE players' },
  { label: 'statement after identifier', value: '"a;b" = 1; DROP TABLE players' },
  { label: 'NUL', value: 'level > 1\u0000; DROP TABLE players' },
  { label: 'empty', value: '' },
  { label: 'blank', value: ' \n\t ' },
  { label: 'too long', value: `level > 1 AND ${'true AND '.repeat(1_200)}true` },
  { label: 'quote, drop table, comment', value: "'; DROP TABLE players; --" },
  { label: 'close quoted identifier', value: '") OR 1=1 --' },
  { label: 'quote then statement', value: '"; select 1; --' },
  { label: 'statement after column', value: 'id; DELETE FROM x' },
];

/** The where-text corpus values alone. */
export const WHERE_TEXT_INJECTION_CORPUS: readonly string[] = whereTextInjectionCorpus.map((c) => c.value);
