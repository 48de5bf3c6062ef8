import { describe, expect, it } from 'vitest';
import { GroupCommit } from './group-commit.js';

/**
 * A GroupCommit over a `run` that records each batch and answers item * 10, once `open()` lets it
 * (held while `hold` is true: a batch stays out until then). Items >= 100 fail the batch.
 */
function recorder(maxItems = 256, isolated = (err: unknown) => String(err).includes('item')) {
  const batches: number[][] = [];
  let release: () => void = () => {};
  let gate: Promise<void> | undefined;
  const commits = new GroupCommit<number, number>(
    async (items) => {
      batches.push([...items]);
      await gate;
      if (items.some((i) => i >= 100)) throw new Error(`bad item among ${items}`);
      if (items.includes(-1)) throw new Error('tier down');
      return items.map((i) => i * 10);
    },
    maxItems,
    isolated,
  );
  return {
    commits,
    batches,
    hold() {
      gate = new Promise((r) => {
        release = r;
      });
    },
    open() {
      gate = undefined;
      release();
    },
  };
}

const turn = () => new Promise((r) => setImmediate(r));

describe('GroupCommit', () => {
  it('calls made in one turn go as one batch, each caller resolving its own slice', async () => {
    const { commits, batches } = recorder();
    const out = await Promise.all([commits.submit([1]), commits.submit([2, 3]), commits.submit([4])]);
    expect(out).toEqual([[10], [20, 30], [40]]);
    expect(batches).toEqual([[1, 2, 3, 4]]);
  });

  it('a lone call leaves before any timer (no waiting when nothing is out)', async () => {
    const { commits, batches } = recorder();
    const order: string[] = [];
    const timer = new Promise<void>((r) =>
      setTimeout(() => {
        order.push('timer');
        r();
      }, 0),
    );
    await commits.submit([7]).then(() => order.push('set'));
    await timer;
    expect(order).toEqual(['set', 'timer']);
    expect(batches).toEqual([[7]]);
  });

  it('calls made while a batch is out leave together as the next, in call order, at most maxItems each', async () => {
    const { commits, batches, hold, open } = recorder(4);
    hold();
    const first = commits.submit([1]);
    await turn();
    const later = [
      commits.submit([2, 3]),
      commits.submit([4, 5]),
      commits.submit([6]),
      commits.submit([7, 8, 9, 10, 11]),
    ];
    await turn();
    expect(batches).toEqual([[1]]);
    open();
    expect(await first).toEqual([10]);
    expect(await Promise.all(later)).toEqual([[20, 30], [40, 50], [60], [70, 80, 90, 100, 110]]);
    // [2,3]+[4,5] fill 4; [6] next; the call of 5 items goes alone.
    expect(batches).toEqual([[1], [2, 3, 4, 5], [6], [7, 8, 9, 10, 11]]);
  });

  it('a failure of the batch rejects every caller in it, once; the next batch still leaves', async () => {
    const { commits, batches, hold, open } = recorder();
    hold();
    const first = commits.submit([1]);
    await turn();
    const failing = [commits.submit([2]), commits.submit([-1]), commits.submit([3])].map((p) =>
      p.catch((e: unknown) => String(e)),
    );
    await turn();
    open();
    await first;
    expect(await Promise.all(failing)).toEqual(Array(3).fill('Error: tier down'));
    expect(batches).toEqual([[1], [2, -1, 3]]);
    expect(await commits.submit([4])).toEqual([40]);
  });

  it('a failure `isolated` names runs the batch again call by call: only the caller of the bad item fails', async () => {
    const { commits, batches } = recorder();
    const out = await Promise.allSettled([
      commits.submit([1]),
      commits.submit([100, 2]),
      commits.submit([3]),
    ]);
    expect(out.map((o) => (o.status === 'fulfilled' ? o.value : 'rejected'))).toEqual([
      [10],
      'rejected',
      [30],
    ]);
    expect(batches).toEqual([[1, 100, 2, 3], [1], [100, 2], [3]]);
  });
});
