import { integer, pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { isStrataError } from '../errors.js';
import { defineSchema } from '../schema/define-schema.js';
import type { CompiledSchema } from '../schema/types.js';
import { Registry } from './registry.js';

const players = pgTable('players', { id: text('id').primaryKey(), n: integer('n').notNull() });
const tenantPlayers = pgSchema('tenant_b').table('players', {
  id: text('id').primaryKey(),
  n: integer('n').notNull(),
});

function registered(schema: CompiledSchema) {
  const registry = new Registry<{ schema: CompiledSchema; keys: { base: string } }>();
  const runtime = { schema, keys: { base: `app:${schema.identity}` } };
  registry.add(runtime);
  return { registry, runtime };
}

function refused(resolve: () => unknown): string {
  try {
    resolve();
  } catch (e) {
    if (isStrataError(e, 'SCHEMA_NOT_FOUND')) return e.message;
    throw e;
  }
  throw new Error('resolved');
}

describe('Registry: schema objects rebuilt per request', () => {
  const define = () =>
    defineSchema({
      table: players,
      l1: { ttl: '1m' },
      writeMode: 'write-behind',
      indexes: [{ fields: ['n'] }],
      hooks: { beforeSet: (row) => void row },
    });

  it('resolves an object rebuilt from the same definition to the registered runtime', () => {
    const { registry, runtime } = registered(define());
    expect(registry.resolve(define())).toBe(runtime);
    expect(registry.resolve('players')).toBe(runtime);
  });

  it('refuses an object of that name with another table, policy, write mode or hook', () => {
    const { registry } = registered(define());
    const others = [
      defineSchema({ name: 'players', table: tenantPlayers, l1: { ttl: '1m' }, writeMode: 'write-behind' }),
      defineSchema({
        table: players,
        l1: { ttl: '2m' },
        writeMode: 'write-behind',
        indexes: [{ fields: ['n'] }],
      }),
      defineSchema({
        table: players,
        l1: { ttl: '1m' },
        writeMode: 'write-through',
        indexes: [{ fields: ['n'] }],
      }),
      defineSchema({
        table: players,
        l1: { ttl: '1m' },
        writeMode: 'write-behind',
        indexes: [{ fields: ['n'] }],
        hooks: { beforeSet: (row) => void Object.assign(row, { n: 0 }) },
      }),
    ];
    for (const other of others) {
      expect(refused(() => registry.resolve(other))).toMatch(/another schema of that name is/);
    }
    // A name never registered lists those that are; the Drizzle table where its schema was meant says so.
    expect(refused(() => registry.resolve('nope'))).toBe(
      'strata: schema nope is not registered (registered: players)',
    );
    expect(refused(() => registry.resolve(players as never))).toBe(
      'strata: schema undefined is not registered: pass the defineSchema() result, not the table',
    );
  });
});
