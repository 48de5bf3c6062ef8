import { afterAll, beforeAll, expect, it } from 'vitest';
import { type AofRedis, startAofRedis } from '../support/deployment-redis.js';
import { type Instance, type TwoApps, twoApps } from '../support/twoapps-stack.js';

// Found by model-two-apps.test.ts (`lose`): Redis lost its data, write-behind queue included,
// before a flush. Each instance puts its own unflushed writes back and queues them again when it
// finds the reset (restoreOwnPending), but only a read or write of the schema found it: a
// `flushDirty()` right after (a shutdown hook, a test, a cron flusher) drained the empty queue and
// returned, while the acknowledged writes were in no queue and not in Postgres ("every write-behind
// write acknowledged before is in Postgres" said otherwise). flushDirty now reads the L2 life of
// every schema with unflushed writes of its own first.

let redis: AofRedis;
let stack: TwoApps;
let A1: Instance;
let B1: Instance;

beforeAll(async () => {
  redis = await startAofRedis();
  stack = await twoApps(
    redis,
    {
      keyPrefix: { a: 't_twoapps_f', b: 't_twoapps_f2' },
      pgSchema: { a: 't_twoapps_fa', b: 't_twoapps_fb' },
      ops: 't_twoapps_fops',
      channel: 't_twoapps_f:bus',
    },
    1,
  );
  [A1, B1] = stack.instances as [Instance, Instance];
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await redis?.stop();
});

it('flushDirty right after Redis lost its data puts the acknowledged write-behind writes in Postgres', async () => {
  await A1.strata.set(A1.schemas.wb, { id: 'k', n: 1, app: 'a', note: 'x' });
  await A1.strata.set(A1.schemas.wb, { id: 'j', n: 2, app: 'a' });
  await B1.strata.set(B1.schemas.wb, { id: 'k', n: 3, app: 'b' });
  const before = stack.gaps();
  await redis.kill();
  redis.wipe();
  await redis.start();
  await stack.redisBack(before, 10_000);
  await A1.strata.flushDirty();
  await B1.strata.flushDirty();
  const a = await stack.pgRows('a', 'wb');
  const b = await stack.pgRows('b', 'wb');
  expect({ a: [a.get('k')?.n, a.get('j')?.n], b: [b.get('k')?.n] }).toEqual({ a: [1, 2], b: [3] });
  expect(await A1.strata.queueDepth()).toBe(0);
});
