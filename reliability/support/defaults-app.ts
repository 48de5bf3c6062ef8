import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema } from '@strata/core';
import { integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { scratchApp } from './scratch-app.js';

/** A time no default gives: a held transaction's `f`, told apart from `defaultNow()`'s. */
export const T0 = new Date('2020-01-02T03:04:05.000Z');

/** One column per kind of client default: `$defaultFn` (d), a literal (e), `defaultNow()` (f), `$onUpdateFn` (g). */
const cols = {
  id: text('id').primaryKey(),
  a: integer('a'),
  b: text('b'),
  c: integer('c'),
  d: text('d').$defaultFn(() => 'fn'),
  e: text('e').default('lit'),
  f: timestamp('f', { withTimezone: true, mode: 'date' }).defaultNow(),
  g: text('g').$onUpdateFn(() => 'upd'),
};

/**
 * A scratch app (call inside a `describe`) over a table of every kind of client default, with its
 * write-behind and write-through schemas, Postgres' row of a key, the app's bus and the row a held
 * transaction sets (every column, none at its default): the regression-defaults-* files' setup.
 */
export function defaultsApp(label: string) {
  const scratch = scratchApp(label);
  const { pgName, admin, redisUrl, name } = scratch;
  const table = pgSchema(pgName).table('items', cols);
  scratch.migrate(table);
  return {
    scratch,
    behind: defineSchema({ name: 'items', table, writeMode: 'write-behind' }),
    through: defineSchema({ name: 'items', table }),
    row: async (id: string) =>
      (await admin.query(`select id, a, b, c, d, e, f, g from "${pgName}".items where id = $1`, [id]))
        .rows[0] ?? null,
    bus: () => ({ bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) }),
    txRow: (id: string) => ({ id, a: 1, b: 'tx', c: 1, d: 'tx', e: 'tx', f: T0, g: 'tx' }),
  };
}
