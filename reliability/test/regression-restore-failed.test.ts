import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { type L2Tier, StrataError } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { uniqueName } from '@strata/devstack/testing';
import { describe, expect, it } from 'vitest';
import { REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';

// After a Redis reset, a writer puts its unflushed write-behind rows back (`restoreOwnPending`). A
// restore whose L2 call failed (Redis restarted and still loading, a timeout, a dropped link) was
// never tried again: the writer's acknowledged writes stayed out of L2, it never answered the reset,
// and the other instances, after waiting REPLACED_WAIT_MS for that answer, read Postgres below the
// write until the flush. Before the fix: "AssertionError: second reads first's write: expected null
// to be 2". Now a failed restore is tried again (l2-reset.ts, `RESTORE_RETRY_MS`) for a while, and
// the versions it had taken to adopt or wait for are kept until a pass completes.

const s = restartSuite('restore_failed');

/** The writer's L2 with the next `failures` restore PUTs failed at the seam (once armed). */
function failingPuts(failures: { left: number; armed: boolean }) {
  return (tier: L2Tier): L2Tier =>
    Object.assign(Object.create(tier) as L2Tier, {
      run: (script: Parameters<L2Tier['run']>[0], keys: readonly string[], args: readonly string[]) => {
        if (failures.armed && script.name === 'put' && failures.left > 0) {
          failures.left--;
          return Promise.reject(new StrataError('L2_UNAVAILABLE', 'restore PUT failed (test fault)'));
        }
        return tier.run(script, keys, args);
      },
    });
}

describe('a restore after a Redis reset whose L2 call failed', () => {
  for (const failures of [1, 3]) {
    it(`is tried again (${failures} failed): the writer's rows come back and the reader's settle ends on its answer`, async () => {
      const id = `restore-failed-${failures}`;
      const schema = s.store.schema('write-behind');
      const clock = manualClock(Date.now());
      const channel = uniqueName('restore_failed_bus');
      const keyPrefix = `${s.store.name}-${id}`;
      const fault = { left: failures, armed: false };
      const first = s.instance(keyPrefix, clock, {
        writeBehind: true,
        bus: createRedisPubSubBus({ url: s.store.redisUrl, channel }),
        wrapL2: failingPuts(fault),
      });
      const second = s.instance(keyPrefix, clock, {
        writeBehind: true,
        bus: createRedisPubSubBus({ url: s.store.redisUrl, channel }),
      });
      for (const x of [first, second]) await x.find(schema, 'warm-up');
      await first.set(schema, { id, n: 2, label: 'first-v2' });

      fault.armed = true;
      await s.restart({ dropData: true });
      clock.advance(REFRESH_PASSED); // `second`'s read finds the reset and tells `first`
      const read = await second.find(schema, id);
      expect((await s.store.stored()).has(id), 'Postgres has not had the flush').toBe(false);
      expect(fault.left, 'every armed failure was met').toBe(0);
      expect(read?.n ?? null, "second reads first's write").toBe(2);
      expect(s.ranOut(second), "ended by first's answer, not the bound").toBe(0);
      expect(first.stats().errorsBy.l2 ?? 0).toBeGreaterThanOrEqual(failures);

      await first.flushDirty();
      expect((await s.store.stored()).get(id)).toBe(2);
    });
  }
});
