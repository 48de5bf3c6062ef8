import {
  bigint,
  boolean,
  customType,
  doublePrecision,
  integer,
  jsonb,
  pgSchema,
  text,
  timestamp,
} from 'drizzle-orm/pg-core';

export const bytea = customType<{ data: Uint8Array; driverData: Uint8Array | string }>({
  dataType: () => 'bytea',
  fromDriver: (value) => {
    if (value instanceof Uint8Array) return new Uint8Array(value);
    // Drivers that return text (neon-http) send bytea as `\x…` hex.
    const hex = value.startsWith('\\x') ? value.slice(2) : value;
    return Uint8Array.from(hex.match(/../g) ?? [], (h) => Number.parseInt(h, 16));
  },
});

/** The demo's player row, with every column type Strata maps and each field option. */
export function playerTables(pgSchemaName: string) {
  const s = pgSchema(pgSchemaName);
  const players = s.table('players', {
    id: text('id').primaryKey(),
    username: text('username').notNull().unique(),
    level: integer('level').notNull().default(1),
    xp: bigint('xp', { mode: 'bigint' }),
    score: doublePrecision('score'),
    active: boolean('active').notNull().default(true),
    createdAt: timestamp('created_at', { withTimezone: true, mode: 'date' }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true, mode: 'date' }),
    profile: jsonb('profile').$type<Record<string, unknown>>(),
    avatar: bytea('avatar'),
    apiKey: text('api_key'),
    passwordHash: text('password_hash'),
    notes: text('notes'),
  });
  const sessions = s.table('sessions', {
    id: text('id').primaryKey(),
    userId: text('user_id').notNull(),
    data: jsonb('data').$type<Record<string, unknown>>(),
  });
  const counters = s.table('counters', {
    id: integer('id').primaryKey(),
    n: integer('n').notNull(),
  });
  return { players, sessions, counters };
}
