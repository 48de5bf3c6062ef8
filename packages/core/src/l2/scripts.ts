import { SHARE_WRITER_CLAIM, TAKE_LEASES } from './claim-scripts.js';
import { COUNTER_VALUE, SEED_COUNTER } from './counter-scripts.js';
import { DROP, MARK } from './drop-scripts.js';
import { DUE_PEEK } from './due-script.js';
import { GENERATION, NEXT_GENERATION, RESET_GENERATION } from './generation-scripts.js';
import { ORDERED_PUT, ORDERED_PUT_ENQUEUE } from './ordered-put-scripts.js';
import { PENDING } from './pending-script.js';
import { PUT } from './put-script.js';
import { RELAY_RELEASE, RELAY_STORE, RELAY_TAKE } from './relay-scripts.js';
import { RESERVE, RESERVE_THROUGH, UNMARK } from './reserve-scripts.js';
import { BUMP_TAGS, READ_TAGS } from './tag-scripts.js';
import type { L2Script } from './types.js';

/*
 * The engine's Lua scripts, one file per family (the pieces they share and what every write script
 * takes: script-parts.ts): a row's write (put-script.ts), Redis-ordered writes
 * (ordered-put-scripts.ts), versions reserved and their marks (reserve-scripts.ts, marks-script.ts),
 * drops and outside changes (drop-scripts.ts), the generation (generation-scripts.ts), version
 * counters (counter-scripts.ts), leases and writer claims (claim-scripts.ts), tags (tag-scripts.ts)
 * and the pending index (pending-script.ts). Imported from here or from their own file.
 */

export { orderedPut } from './ordered-put-scripts.js';
export {
  BUMP_TAGS,
  COUNTER_VALUE,
  DROP,
  GENERATION,
  MARK,
  NEXT_GENERATION,
  ORDERED_PUT,
  ORDERED_PUT_ENQUEUE,
  PENDING,
  PUT,
  READ_TAGS,
  RESERVE,
  RESERVE_THROUGH,
  RESET_GENERATION,
  SEED_COUNTER,
  SHARE_WRITER_CLAIM,
  TAKE_LEASES,
  UNMARK,
};

/** Every script the engine runs, e.g. to load them into a Redis ahead of time (`SCRIPT LOAD`). */
export const L2_SCRIPTS: readonly L2Script[] = [
  PUT,
  ORDERED_PUT,
  ORDERED_PUT_ENQUEUE,
  RESERVE,
  UNMARK,
  RESERVE_THROUGH,
  DROP,
  MARK,
  GENERATION,
  NEXT_GENERATION,
  RESET_GENERATION,
  SEED_COUNTER,
  COUNTER_VALUE,
  SHARE_WRITER_CLAIM,
  DUE_PEEK,
  RELAY_TAKE,
  RELAY_STORE,
  RELAY_RELEASE,
  TAKE_LEASES,
  BUMP_TAGS,
  READ_TAGS,
  PENDING,
];
