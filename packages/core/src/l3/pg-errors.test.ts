import { DrizzleQueryError } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { StrataError } from '../errors.js';
import {
  classifyPgError,
  holdsFlush,
  isInputPgError,
  isTransientPgError,
  PG_ERROR_RULES,
  type PgOp,
  sqlStateOf,
} from './pg-errors.js';

/** An error as node-postgres raises it (a DatabaseError with `code`), wrapped as Drizzle does. */
function pgError(code: string, message = `pg error ${code}`): Error {
  const cause = Object.assign(new Error(message), { code, severity: 'ERROR' });
  return new DrizzleQueryError('select 1', [], cause);
}

describe('sqlStateOf', () => {
  it('reads the SQLSTATE through Drizzle’s cause chain', () => {
    expect(sqlStateOf(pgError('23505'))).toBe('23505');
    expect(sqlStateOf({ code: '42P01' })).toBe('42P01');
    expect(sqlStateOf(new Error('outer', { cause: new Error('mid', { cause: { code: '40001' } }) }))).toBe(
      '40001',
    );
    expect(sqlStateOf(new Error('no code'))).toBeUndefined();
    expect(sqlStateOf(undefined)).toBeUndefined();
    expect(sqlStateOf('23505')).toBeUndefined();
  });

  it('does not take a Node errno code (EPIPE, EPERM…) or a Strata code for a SQLSTATE', () => {
    for (const code of ['EPIPE', 'EPERM', 'EBADF', 'ECONNRESET', 'ETIMEDOUT', 'TIMEOUT']) {
      expect(sqlStateOf(Object.assign(new Error(code), { code, syscall: 'write' })), code).toBeUndefined();
    }
    expect(sqlStateOf(new StrataError('TIMEOUT', 'slow'))).toBeUndefined();
    expect(sqlStateOf({ code: 'P0001' })).toBe('P0001');
    expect(sqlStateOf({ code: 'HV000' })).toBe('HV000');
  });
});

describe('isTransientPgError', () => {
  it('true without a SQLSTATE and for connection, state, serialization, resource, lock, operator, system errors', () => {
    const transient = [
      '08006',
      '08P01',
      '25006',
      '25P02',
      '40001',
      '40P01',
      '53300',
      '55P03',
      '57014',
      '57P01',
      '58030',
      'XX000',
    ];
    for (const code of transient) expect(isTransientPgError(pgError(code)), code).toBe(true);
    expect(isTransientPgError(new Error('socket hang up'))).toBe(true);
    expect(isTransientPgError(Object.assign(new Error('EPIPE'), { code: 'EPIPE' }))).toBe(true);
    expect(isTransientPgError(new StrataError('TIMEOUT', 'slow'))).toBe(true);
  });

  it('false for input, model and privilege errors', () => {
    for (const code of [
      '22001',
      '22P02',
      '23505',
      '23503',
      '54000',
      '42601',
      '42P01',
      '42501',
      '55000',
      'P0001',
    ]) {
      expect(isTransientPgError(pgError(code)), code).toBe(false);
    }
  });
});

describe('classifyPgError', () => {
  const cases: [string, PgOp, string][] = [
    ['22P02', 'write', 'VALIDATION_FAILED'],
    ['23505', 'write', 'VALIDATION_FAILED'],
    ['54000', 'write', 'VALIDATION_FAILED'],
    ['22P02', 'query', 'INVALID_QUERY'],
    ['54001', 'query', 'INVALID_QUERY'],
    ['22P02', 'read', 'MISSING_PRIMARY_KEY'],
    ['42601', 'query', 'INVALID_QUERY'],
    ['42703', 'query', 'INVALID_QUERY'],
    ['42883', 'query', 'INVALID_QUERY'],
    ['42P01', 'read', 'INVALID_MODEL'],
    ['42703', 'write', 'INVALID_MODEL'],
    ['42501', 'write', 'L3_UNAVAILABLE'],
    ['42501', 'query', 'L3_UNAVAILABLE'],
    ['42601', 'write', 'L3_UNAVAILABLE'],
    ['40001', 'write', 'L3_UNAVAILABLE'],
    ['57014', 'query', 'L3_UNAVAILABLE'],
    ['55P03', 'write', 'L3_UNAVAILABLE'],
    ['P0001', 'write', 'L3_UNAVAILABLE'],
  ];
  for (const [code, op, expected] of cases) {
    it(`${code} on a ${op}: ${expected}`, () => expect(classifyPgError(pgError(code), op)).toBe(expected));
  }

  it('without a SQLSTATE: L3_UNAVAILABLE for every op', () => {
    for (const op of ['read', 'write', 'query'] as const) {
      expect(classifyPgError(new Error('connection terminated'), op)).toBe('L3_UNAVAILABLE');
    }
  });

  it('exports its rules as a table (for the docs), exact states before their class', () => {
    for (const rule of PG_ERROR_RULES) {
      expect(rule.match).toMatch(/^(none|[0-9A-Z]{2}|[0-9A-Z]{5})$/);
      expect(rule.why.length).toBeGreaterThan(5);
    }
    const index = (match: string) => PG_ERROR_RULES.findIndex((r) => r.match === match);
    expect(index('42501')).toBeLessThan(index('42'));
    expect(PG_ERROR_RULES.filter((r) => r.transient).map((r) => r.match)).toEqual([
      'none',
      '08',
      '25',
      '40',
      '53',
      '55P03',
      '57',
      '58',
      'XX',
    ]);
  });
});

describe('holdsFlush', () => {
  it('holds for what no write is at fault for: not migrated, no grant, no database, a refused login', () => {
    for (const code of ['42P01', '42703', '42501', '3F000', '3D000', '28000', '28P01', '08006', '40001'])
      expect(holdsFlush(pgError(code)), code).toBe(true);
    expect(holdsFlush(new Error('connection terminated'))).toBe(true);
  });

  it('does not hold for a row Postgres refuses (the flush dead-letters that write alone)', () => {
    for (const code of ['23505', '23502', '22P02', '54000'])
      expect(holdsFlush(pgError(code)), code).toBe(false);
  });
});

describe('isInputPgError', () => {
  it("is the caller's input for data, constraint and limit errors, through Strata's and Drizzle's wrapping", () => {
    for (const code of ['23505', '23502', '23503', '22P02', '22003', '54000'])
      expect(isInputPgError(pgError(code)), code).toBe(true);
    const wrapped = new StrataError('VALIDATION_FAILED', 'refused', { cause: pgError('23505') });
    expect(isInputPgError(wrapped)).toBe(true);
  });

  it('is not for a tier failure, a table mismatch or an error without SQLSTATE', () => {
    for (const code of ['08006', '40001', '57014', '42P01', '42703', '42601', 'XX000'])
      expect(isInputPgError(pgError(code)), code).toBe(false);
    expect(isInputPgError(new Error('connection terminated'))).toBe(false);
  });
});
