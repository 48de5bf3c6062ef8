import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyChanges, reencrypt } from '../src/admin.js';
import { defineSchema, isStrataError, Strata, type StrataConfig } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

// `@strata/core/admin` reaches an instance through one accessor: what it refuses, and what Strata no
// longer has. Every case here is refused before a tier is asked (the L3 is only there to be had).
let stack: EngineStack;
let rows: ReturnType<typeof defineSchema>;
const open = (config: StrataConfig = {}) => new Strata({ l3: stack.l3, schemas: [rows], ...config });

beforeAll(async () => {
  stack = await engineStack('admin_entry');
  rows = defineSchema({ table: stack.tables.players });
});
afterAll(() => stack?.cleanup());

describe('@strata/core/admin', () => {
  it('Strata has no reencrypt or applyChanges method, and its accessor is not enumerable', () => {
    const strata = open();
    expect('reencrypt' in strata).toBe(false);
    expect('applyChanges' in strata).toBe(false);
    const keys: string[] = [];
    for (const key in strata) keys.push(key);
    expect(keys.filter((key) => /admin/i.test(key))).toEqual([]);
    const symbols = Object.getOwnPropertySymbols(Strata.prototype);
    expect(symbols).toHaveLength(1);
    expect(Object.getOwnPropertyDescriptor(Strata.prototype, symbols[0]!)!.enumerable).toBe(false);
  });

  it('a closed instance rejects both with UNAVAILABLE', async () => {
    const strata = open();
    await strata.close();
    const reencrypted = await reencrypt(strata, rows).catch((e: unknown) => e);
    expect(isStrataError(reencrypted, 'UNAVAILABLE'), String(reencrypted)).toBe(true);
    const applied = await applyChanges(strata, []).catch((e: unknown) => e);
    expect(isStrataError(applied, 'UNAVAILABLE'), String(applied)).toBe(true);
  });

  it('rejects (never throws) with INVALID_CONFIG for a first argument that is not a Strata instance', async () => {
    for (const notStrata of [undefined, null, {}, { reencrypt() {} }, 'strata']) {
      const calls = [() => reencrypt(notStrata as never, rows), () => applyChanges(notStrata as never, [])];
      for (const call of calls) {
        const outcome = call();
        expect(outcome).toBeInstanceOf(Promise);
        const err = await outcome.catch((e: unknown) => e);
        expect(isStrataError(err, 'INVALID_CONFIG'), String(err)).toBe(true);
      }
    }
  });

  it('an unknown schema rejects with SCHEMA_NOT_FOUND and a malformed batch with VALIDATION_FAILED', async () => {
    const strata = open();
    const unknown = await reencrypt(strata, 'no_such_schema').catch((e: unknown) => e);
    expect(isStrataError(unknown, 'SCHEMA_NOT_FOUND'), String(unknown)).toBe(true);
    const malformed = await applyChanges(strata, [{ op: 'update' } as never]).catch((e: unknown) => e);
    expect(isStrataError(malformed, 'VALIDATION_FAILED'), String(malformed)).toBe(true);
    expect(strata.stats().capture.changesApplied).toBe(0);
    await strata.close();
  });
});
