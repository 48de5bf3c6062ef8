import { describe, expect, it } from 'vitest';
import { KeyOrder } from './key-order.js';

/** Whether `p` has settled, after every microtask queued so far ran. */
async function settled(p: Promise<void> | undefined): Promise<boolean> {
  if (!p) return true;
  let done = false;
  void p.then(() => {
    done = true;
  });
  for (let i = 0; i < 10; i++) await Promise.resolve();
  return done;
}

describe('KeyOrder', () => {
  it('the first claim of a key waits for nothing; other keys never wait', async () => {
    const order = new KeyOrder();
    const a = order.claim(['k'], 'settled');
    expect(a.wait()).toBeUndefined();
    expect(order.claim(['other'], 'settled').wait()).toBeUndefined();
  });

  it("'admitted' goes once the earlier write is in its batch; 'settled' only once it is done", async () => {
    const order = new KeyOrder();
    const first = order.claim(['k'], 'admitted');
    const batched = order.claim(['k'], 'admitted');
    const tx = order.claim(['k'], 'settled');
    expect(await settled(batched.wait())).toBe(false);
    first.admit();
    expect(await settled(batched.wait())).toBe(true);
    expect(await settled(tx.wait())).toBe(false);
    first.release();
    batched.admit();
    expect(await settled(tx.wait())).toBe(false); // the batched write is not done yet
    batched.release();
    expect(await settled(tx.wait())).toBe(true);
  });

  it('a claim that fails early does not let a later one pass an earlier one still out', async () => {
    const order = new KeyOrder();
    const held = order.claim(['k'], 'settled');
    const failed = order.claim(['k'], 'settled');
    failed.release(); // refused in its preparation: it never waited
    const later = order.claim(['k'], 'settled');
    expect(await settled(later.wait())).toBe(false);
    held.release();
    expect(await settled(later.wait())).toBe(true);
    later.release();
    await settled(Promise.resolve()); // the cleanup runs a few microtasks after the last release
    expect(order.size).toBe(0);
  });

  it('a claim of several keys waits for each of them', async () => {
    const order = new KeyOrder();
    const a = order.claim(['a'], 'settled');
    const b = order.claim(['b'], 'settled');
    const both = order.claim(['a', 'b', 'a'], 'settled');
    a.release();
    expect(await settled(both.wait())).toBe(false);
    b.release();
    expect(await settled(both.wait())).toBe(true);
  });
});
