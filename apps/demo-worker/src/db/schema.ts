import { index, integer, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';

// The demo's tables, as plain Drizzle tables: `drizzle-kit push` (npm run db:push) reads this file,
// and `defineSchema` (./strata-schemas.ts) takes these same objects, so both see one definition.
// Index names are explicit so drizzle-kit and Strata's migrate() look for the same catalog entries.

/**
 * The demo's own Postgres schema: its tables and its Strata's `_strata_*` tables live here, and
 * drizzle.config.ts limits drizzle-kit to it, so pushing the demo into a database another app uses
 * (the machine's `test` database, by default) can never drop or alter that app's tables.
 */
export const DEMO_PG_SCHEMA = 'strata_demo';
export const demo = pgSchema(DEMO_PG_SCHEMA);

export const players = demo.table('players', {
  id: text('id').primaryKey(),
  username: text('username').notNull().unique(),
  level: integer('level').notNull().default(1),
  /** Stored as Strata ciphertext (`encrypted: true` in strata-schemas.ts), hence plain text here. */
  email: text('email'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }),
});

export const scores = demo.table(
  'scores',
  {
    id: text('id').primaryKey(),
    playerId: text('player_id').notNull(),
    points: integer('points').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index('scores_player_id_idx').on(table.playerId), index('scores_points_idx').on(table.points)],
);
