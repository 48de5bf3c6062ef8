import { describe, expect, it } from 'vitest';
import type { L3Suite } from './l3-conformance-suite.js';
import type { QueryModel } from './l3-conformance-tables.js';

/**
 * `walPosition()` (optional): a byte offset that never goes back and moves past every write that
 * returned, so a replica's replay position can be compared with it (read-your-writes).
 */
export function registerWalPositionTests(suite: L3Suite, q: QueryModel): void {
  describe('walPosition', () => {
    it('is a byte offset that moves on past each write and never goes back', async (t) => {
      const l3 = suite.l3();
      if (!l3.walPosition) return t.skip();
      await l3.migrate([q.texts]); // idempotent: run alone, the test makes its table itself
      const before = await l3.walPosition();
      expect(Number.isSafeInteger(before) && before > 0).toBe(true);
      await l3.write([{ schema: q.texts, writes: [{ row: { id: 9_001, body: 'wal' } }] }]);
      const after = await l3.walPosition();
      expect(after).toBeGreaterThan(before);
      expect(await l3.walPosition()).toBeGreaterThanOrEqual(after);
      await l3.write([{ schema: q.texts, writes: [{ id: 9_001 }] }]);
      expect(await l3.walPosition()).toBeGreaterThan(after);
    });
  });
}
