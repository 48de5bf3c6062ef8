// The tables and schemas the docs' samples take as the reader's own (README's quick start and the
// demo's), so that a sample which names `players` or `playerSchema` without defining it is checked
// against a real table. Also what `import { playerSchema } from './schema'` resolves to.
import { defineSchema } from '@strata/core';
import { integer, pgTable, text, timestamp } from 'drizzle-orm/pg-core';

export const players = pgTable('players', {
  id: text('id').primaryKey(),
  username: text('username').notNull().unique(),
  level: integer('level').notNull().default(1),
  email: text('email'),
  passwordHash: text('password_hash'),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const scores = pgTable('scores', {
  id: text('id').primaryKey(),
  playerId: text('player_id').notNull(),
  points: integer('points').notNull(),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
});

export const playerSchema = defineSchema({
  table: players,
  fields: { email: { encrypted: true }, passwordHash: { omitCache: true } },
});
export const scoreSchema = defineSchema({ table: scores, writeMode: 'write-behind' });
/** A schema with an encrypted field, as docs/api.md's key rotation sample calls it. */
export const users = playerSchema;
