import { type Schema, Strata } from '@strata/core';
import { createDrizzleL3, type Database } from '@strata/core/drizzle';
import { createIoredisL2 } from '../../src/redis-tcp/l2.js';
import { createRedisStreamQueue } from '../../src/redis-tcp/queue.js';

/** Where a killed write-behind process left its writes: one app's names on the real services. */
export interface CrashedWriter {
  redisUrl: string;
  /** The app's key prefix, consumer-group namespace and Strata's migrations schema. */
  name: string;
  /** The durable queue's Redis Stream. */
  stream: string;
}

/**
 * The durable queue as a recovering instance opens it: entries a dead consumer held become its
 * own once idle for 200 ms (short, so a crash test does not wait long). allowVolatile: the test
 * Redis has no AOF; crash tests kill Node, not Redis.
 */
export function recoveryQueue({ redisUrl, name, stream }: CrashedWriter) {
  return createRedisStreamQueue({
    url: redisUrl,
    keyPrefix: name,
    stream,
    claimIdleMs: 200,
    allowVolatile: true,
  });
}

/**
 * A new instance taking over a killed writer's queue, so its `flushDirty()` reclaims and flushes
 * what the dead one acknowledged but had not flushed. Shared by write-behind-crash.test.ts and the
 * reliability suite's crash writer (recover mode): both recover the same way.
 */
export function recoveryStrata(crashed: CrashedWriter, db: Database, schema: Schema): Strata {
  return new Strata({
    l2: createIoredisL2(crashed.redisUrl),
    l3: createDrizzleL3(db, { migrationsSchema: crashed.name }),
    writeBehind: { queue: recoveryQueue(crashed) },
    keyPrefix: crashed.name,
    schemas: [schema],
  });
}
