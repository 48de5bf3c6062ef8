import { describe, expect, it } from 'vitest';
import { migrationError } from './migration-error.js';

describe('migrationError', () => {
  it('a Postgres that did not answer: L3_UNAVAILABLE saying what to check, the driver error as cause', () => {
    const cause = new TypeError('fetch failed');
    const error = migrationError(cause);
    expect(error.code).toBe('L3_UNAVAILABLE');
    expect(error.message).toBe(
      'strata: migrate: Postgres did not answer (fetch failed); once it is reachable (its URL or endpoint; locally, the devstack running), run it again: it is idempotent',
    );
    expect(error.cause).toBe(cause);
  });

  it('refused DDL: INVALID_MODEL with the SQLSTATE', () => {
    const error = migrationError(
      Object.assign(new Error('permission denied for schema app'), { code: '42501' }),
    );
    expect(error.code).toBe('INVALID_MODEL');
    expect(error.details?.sqlstate).toBe('42501');
    expect(error.message).toContain('42501: permission denied for schema app');
  });
});
