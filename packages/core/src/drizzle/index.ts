// `@strata/core/drizzle`: the L3 over a Drizzle Postgres database. Its own entry so that the L3's
// implementation (DDL, migrations, upserts, the versions table) is loaded only by apps that build an
// L3 themselves; the seam it implements (`L3Tier`) is in `@strata/core` and `@strata/core/driver`.

export {
  type ReplicaRouter,
  type ReplicaRouting,
  readYourWrites,
} from '../engine/replica-reads.js';
export {
  type ChangeCapture,
  type ChangeCaptureOptions,
  changeCapture,
  changeCaptureWith,
} from './capture/drizzle-capture.js';
export type { DrizzleChangeSource, PruneResult } from './capture/source.js';
export type { Database } from './database.js';
export { createLeanDrizzleL3, type DrizzleL3Options } from './drizzle-l3.js';
export { createDrizzleL3 } from './l3.js';
export { type DrizzleMigrate, drizzleMigrate } from './migrate.js';
