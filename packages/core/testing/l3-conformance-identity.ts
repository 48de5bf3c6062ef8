import { describe, expect, it } from 'vitest';
import type { L3Suite } from './l3-conformance-suite.js';

/** `identity()`: which database the tier reaches, stable across calls (see `L3Claim`). */
export function registerIdentityTests(suite: L3Suite): void {
  describe('identity', () => {
    it('names the database as pg:<system identifier>/<database>[/<timeline>], the same on every call', async () => {
      const l3 = suite.l3();
      expect(l3.identity).toBeTypeOf('function');
      const first = await l3.identity!();
      expect(first).toMatch(/^pg:\d+\/[^/]+(\/[0-9a-f]+)?$/);
      expect(await l3.identity!()).toBe(first);
    });
  });
}
