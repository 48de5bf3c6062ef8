import { defineSchema } from '@strata/core';
import { players, scores } from './schema.js';

/** Players are read far more than written: cached in the isolate for a minute and in Redis for 30 minutes. */
export const playerSchema = defineSchema({
  table: players,
  l1: { ttl: '60s' },
  l2: { ttl: '30m' },
  // Past its TTL a player is answered at once and refreshed in the background for 5 minutes; if
  // Postgres is down, the last copy answers for an hour (see docs/semantics.md, "Staleness").
  stale: '5m',
  grace: '1h',
  // Only ciphertext reaches L2 and Postgres.
  fields: { email: { encrypted: true } },
});

/** Scores arrive in bursts and are never read back at once: queued and flushed to Postgres later. */
export const scoreSchema = defineSchema({
  table: scores,
  writeMode: 'write-behind',
});

/** Every schema of the demo, for `new Strata({ schemas })`. */
export const schemas = [playerSchema, scoreSchema] as const;
