import { describe, expect, it } from 'vitest';
import { WriteFence } from './fence.js';

describe('WriteFence', () => {
  it('fences a key written while the read was out, and no other key', () => {
    const fence = new WriteFence();
    const read = fence.beginRead();
    fence.beginWrite('a');
    fence.endWrite('a');
    expect(fence.stale('a', read)).toBe(true);
    expect(fence.stale('b', read)).toBe(false);
    fence.endRead(read);
    expect(fence.size).toBe(0);
  });

  it('does not fence a read that began after the write ended', () => {
    const fence = new WriteFence();
    fence.beginWrite('a');
    fence.endWrite('a');
    const read = fence.beginRead();
    expect(fence.stale('a', read)).toBe(false);
    fence.endRead(read);
  });

  it('fences a read that began during a write, also after the write ended', () => {
    const fence = new WriteFence();
    fence.beginWrite('a');
    const read = fence.beginRead();
    expect(fence.stale('a', read)).toBe(true);
    fence.endWrite('a');
    expect(fence.stale('a', read)).toBe(true);
    fence.endRead(read);
    expect(fence.size).toBe(0);
  });

  it('keeps what overlapping reads need, and forgets it once they are done', () => {
    const fence = new WriteFence();
    const first = fence.beginRead();
    fence.beginWrite('a');
    fence.endWrite('a');
    const second = fence.beginRead();
    fence.beginWrite('b');
    fence.endWrite('b');
    fence.endRead(first);
    expect(fence.stale('a', second)).toBe(false);
    expect(fence.stale('b', second)).toBe(true);
    fence.endRead(second);
    expect(fence.size).toBe(0);
  });

  it('bounds its memory while reads keep overlapping', () => {
    const fence = new WriteFence();
    let out = fence.beginRead();
    for (let i = 0; i < 10_000; i++) {
      const next = fence.beginRead();
      fence.beginWrite(`k${i}`);
      fence.endWrite(`k${i}`);
      expect(fence.stale(`k${i}`, next)).toBe(true);
      fence.endRead(out);
      out = next;
    }
    expect(fence.size).toBeLessThan(300);
    fence.endRead(out);
    expect(fence.size).toBe(0);
  });
  it('keeps reads of the newest stamp apart from older ones, a write between them or not', () => {
    const fence = new WriteFence();
    // Two reads at one stamp, then a write, then two more at the next: four reads out at two stamps.
    const a = fence.beginRead();
    const b = fence.beginRead();
    fence.beginWrite('k');
    const c = fence.beginRead();
    fence.endWrite('k');
    const d = fence.beginRead();
    expect([a, b, c, d].map((t) => fence.stale('k', t))).toEqual([true, true, true, false]);
    // The older reads end first and last: what the newer ones need is kept until they end too.
    fence.endRead(a);
    fence.endRead(c);
    expect(fence.stale('k', b)).toBe(true);
    expect(fence.stale('k', d)).toBe(false);
    fence.endRead(d);
    fence.beginWrite('j');
    fence.endWrite('j');
    expect(fence.stale('j', b)).toBe(true);
    fence.endRead(b);
    expect(fence.size).toBe(0);
    // Reads after that, at a stamp no read is out at, start from nothing again.
    const e = fence.beginRead();
    expect(fence.stale('k', e) || fence.stale('j', e)).toBe(false);
    fence.endRead(e);
    expect(fence.size).toBe(0);
  });
});
