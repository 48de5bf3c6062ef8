import { describe, expect, it } from 'vitest';
import { isStrataError, STRATA_ERROR_CODES, StrataError } from './errors.js';

describe('StrataError', () => {
  it('carries code, prefixed message, name, details', () => {
    const err = new StrataError('NOT_FOUND', 'user 42 not found', { details: { schema: 'users', id: '42' } });
    expect(err).toBeInstanceOf(Error);
    expect(err.name).toBe('StrataError');
    expect(err.code).toBe('NOT_FOUND');
    expect(err.message).toBe('strata: user 42 not found');
    expect(err.details).toEqual({ schema: 'users', id: '42' });
    expect(String(err)).toBe('StrataError: strata: user 42 not found');
  });

  it("defaults to the Go library Strata's sentinel message and does not double the prefix", () => {
    expect(new StrataError('SCHEMA_NOT_FOUND').message).toBe('strata: schema not registered');
    expect(new StrataError('L2_UNAVAILABLE').message).toBe('strata: L2 Redis unavailable');
    expect(new StrataError('TIMEOUT', 'strata: took too long').message).toBe('strata: took too long');
  });

  it('preserves the ES2022 cause, and has none unless given', () => {
    const cause = new Error('ECONNREFUSED');
    const err = new StrataError('L2_UNAVAILABLE', undefined, { cause });
    expect(err.cause).toBe(cause);
    expect('cause' in new StrataError('NOT_FOUND')).toBe(false);
    expect('details' in new StrataError('NOT_FOUND')).toBe(false);
    // An explicit undefined cause is still "a cause was given".
    expect('cause' in new StrataError('NOT_FOUND', undefined, { cause: undefined })).toBe(true);
  });

  it('keeps the brand out of JSON and enumeration', () => {
    const err = new StrataError('INVALID_QUERY', 'bad', { details: { field: 'x' } });
    expect(Object.keys(err)).toEqual(['name', 'code', 'details']);
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      name: 'StrataError',
      code: 'INVALID_QUERY',
      details: { field: 'x' },
    });
  });
});

describe('isStrataError', () => {
  it('matches any code or one code', () => {
    const err: unknown = new StrataError('TX_FAILED');
    expect(isStrataError(err)).toBe(true);
    expect(isStrataError(err, 'TX_FAILED')).toBe(true);
    expect(isStrataError(err, 'TX_TIMEOUT')).toBe(false);
    if (isStrataError(err, 'TX_FAILED')) {
      const code: 'TX_FAILED' = err.code; // narrowed by the type guard
      expect(code).toBe('TX_FAILED');
    }
  });

  it('recognises an error from a foreign copy of the package (brand, not instanceof)', () => {
    class ForeignStrataError extends Error {
      readonly code = 'NOT_FOUND';
      constructor() {
        super('strata: record not found');
        Object.defineProperty(this, Symbol.for('strata.error'), { value: true });
      }
    }
    const foreign: unknown = new ForeignStrataError();
    expect(foreign instanceof StrataError).toBe(false);
    expect(isStrataError(foreign)).toBe(true);
    expect(isStrataError(foreign, 'NOT_FOUND')).toBe(true);
    expect(isStrataError(foreign, 'TIMEOUT')).toBe(false);
  });

  it('rejects look-alikes without the brand, and non-objects', () => {
    const lookAlike = Object.assign(new Error('strata: record not found'), {
      code: 'NOT_FOUND',
      name: 'StrataError',
    });
    for (const v of [lookAlike, { code: 'NOT_FOUND' }, null, undefined, 'NOT_FOUND', 42]) {
      expect(isStrataError(v)).toBe(false);
    }
    expect(isStrataError({ [Symbol.for('strata.error')]: 'yes', code: 'NOT_FOUND' })).toBe(false);
    expect(isStrataError({ [Symbol.for('strata.error')]: true })).toBe(false); // no code
  });
});

describe('STRATA_ERROR_CODES', () => {
  it('lists every code once, each with a default message', () => {
    expect(STRATA_ERROR_CODES).toHaveLength(21);
    expect(new Set(STRATA_ERROR_CODES).size).toBe(STRATA_ERROR_CODES.length);
    expect(STRATA_ERROR_CODES).toEqual(
      expect.arrayContaining(['NOT_FOUND', 'WRITE_BEHIND_MAX_RETRY', 'WRITE_BEHIND_SUPERSEDED', 'TIMEOUT']),
    );
    for (const code of STRATA_ERROR_CODES) {
      const message = new StrataError(code).message;
      expect(message).toMatch(/^strata: \S/);
      expect(message).not.toContain('undefined');
    }
  });
});
