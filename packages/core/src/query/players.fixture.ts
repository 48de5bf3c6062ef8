import { bigint, integer, jsonb, pgTable, text, timestamp } from 'drizzle-orm/pg-core';
import { defineSchema } from '../schema/define-schema.js';

/** The table the query unit tests compile against: JS keys differ from SQL names on purpose. */
export const playersTable = pgTable('players', {
  id: text('id').primaryKey(),
  username: text('user_name').notNull(),
  region: text('region').notNull(),
  level: integer('level').notNull(),
  score: bigint('score', { mode: 'bigint' }).notNull(),
  profile: jsonb('profile'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull(),
});

export const players = defineSchema({ table: playersTable });

/** A second table, for conditions that name the wrong one. */
export const guildsTable = pgTable('guilds', {
  id: text('id').primaryKey(),
  level: integer('level').notNull(),
});
