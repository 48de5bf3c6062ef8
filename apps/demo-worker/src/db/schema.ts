import { index, integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

// The demo's tables, as plain Drizzle `pgTable`s: `drizzle-kit push` (npm run db:push) reads this file,
// and `defineSchema` (./strata-schemas.ts) takes these same objects, so both see one definition.
// Index names are explicit so drizzle-kit and Strata's migrate() look for the same catalog entries.

export const players = pgTable('players', {
  id: text('id').primaryKey(),
  username: text('username').notNull().unique(),
  level: integer('level').notNull().default(1),
  /** Stored as Strata ciphertext (`encrypted: true` in strata-schemas.ts), hence plain text here. */
  email: text('email'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  updatedAt: timestamp('updated_at', { withTimezone: true }),
});

export const scores = pgTable(
  'scores',
  {
    id: text('id').primaryKey(),
    playerId: text('player_id').notNull(),
    points: integer('points').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (table) => [index('scores_player_id_idx').on(table.playerId), index('scores_points_idx').on(table.points)],
);
