import { afterAll, beforeAll, expect, it } from 'vitest';
import { type AofRedis, startAofRedis } from '../support/deployment-redis.js';
import { type Instance, rowOf, type TwoApps, twoApps } from '../support/twoapps-stack.js';

// Two apps (keyPrefixes `t_twoapps_s` and `t_twoapps_s2`) on one Redis (an AOF one of the test's
// own: it is wiped) and one bus channel, each over its own Postgres schema by search_path, with
// the same unqualified tables: both tables' identity is the bare `wb`, and before the fix a bus
// message named only that identity. Each app took the other's messages as its own: it dropped L1
// copies, and, worse, a version of the other app's counter "passed" its own unflushed write-behind
// write, which it then no longer put back (and queued again) after Redis lost its data: an
// acknowledged write gone. Bus messages now name their app (`app`: the keyPrefix), as tag moves do.

let redis: AofRedis;
let stack: TwoApps;
/** inst2 of app A: B1 (inst1) does not drop its messages as its own echo. */
let A2: Instance;
let B1: Instance;
let B2: Instance;

beforeAll(async () => {
  redis = await startAofRedis();
  stack = await twoApps(
    redis,
    {
      keyPrefix: { a: 't_twoapps_s', b: 't_twoapps_s2' },
      pgSchema: { a: 't_twoapps_sa', b: 't_twoapps_sb' },
      ops: 't_twoapps_sops',
      channel: 't_twoapps_s:bus',
      searchPath: true,
    },
    2,
  );
  [, A2, B1, B2] = stack.instances as [Instance, Instance, Instance, Instance];
}, 60_000);

afterAll(async () => {
  await stack?.close();
  await redis?.stop();
});

const get = async (i: Instance, id: string) =>
  rowOf((await i.strata.find(i.schemas.wb, id)) as Record<string, unknown> | null);

/**
 * Resolves once B1 has had every message published before (B2's, after them on one channel), with
 * how many messages B1 applied since it had `since` applied.
 */
async function b1Heard(since = B1.strata.stats().invalidationsApplied): Promise<number> {
  const sentinel = B2.strata.invalidate(B2.schemas.wt, 'sentinel');
  const heard = B1.strata.stats().invalidationsApplied;
  await sentinel;
  await expect.poll(() => B1.strata.stats().invalidationsApplied, { timeout: 2_000 }).toBeGreaterThan(heard);
  return B1.strata.stats().invalidationsApplied - since;
}

it("an app applies no bus message of another app's table of the same unqualified identity", async () => {
  await b1Heard();
  const since = B1.strata.stats().invalidationsApplied;
  await A2.strata.set(A2.schemas.wb, { id: 'm1', n: 1, app: 'a' });
  await A2.strata.invalidateAll(A2.schemas.wt);
  await A2.strata.delete(A2.schemas.wb, 'm1');
  expect(await b1Heard(since), "B1 applied its own app's message only").toBe(1);
});

it("another app's writes of the same id never make an app forget its own unflushed write (lost with a Redis data loss)", async () => {
  await B1.strata.set(B1.schemas.wb, { id: 'k', n: 10, app: 'b' });
  for (let n = 1; n <= 3; n++) await A2.strata.set(A2.schemas.wb, { id: 'k', n, app: 'a' });
  await B1.strata.set(B1.schemas.wb, { id: 'j', n: 20, app: 'b' });
  for (let n = 4; n <= 6; n++) await A2.strata.set(A2.schemas.wb, { id: 'j', n, app: 'a' });
  await b1Heard();
  // Redis loses everything: the queued writes too. Each instance puts its own unflushed ones back.
  const before = stack.gaps();
  await redis.kill();
  redis.wipe();
  await redis.start();
  await stack.redisBack(before, 10_000);
  const seen = {
    a: [(await get(A2, 'k'))?.n, (await get(A2, 'j'))?.n],
    b: [(await get(B1, 'k'))?.n, (await get(B1, 'j'))?.n],
  };
  expect(seen).toEqual({ a: [3, 6], b: [10, 20] });
  await A2.strata.flushDirty();
  await B1.strata.flushDirty();
  const inPg = async (app: 'a' | 'b') => {
    const rows = await stack.pgRows(app, 'wb');
    return [rows.get('k')?.n, rows.get('j')?.n];
  };
  expect({ a: await inPg('a'), b: await inPg('b') }).toEqual({ a: [3, 6], b: [10, 20] });
});
