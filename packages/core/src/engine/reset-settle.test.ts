import { describe, expect, it } from 'vitest';
import { MAX_PEERS, ResetSettle } from './reset-settle.js';

/** A settle over buckets whose lives are set by hand, on a monotonic clock moved by hand. */
function settleAt(lives: (string | undefined)[] = ['b1'], start = 1_000) {
  const at = { now: start };
  return {
    at,
    lives,
    settle: new ResetSettle(
      () => lives,
      () => at.now,
    ),
  };
}

describe('ResetSettle', () => {
  it('costs nothing until a reset: not active, and a wait resolves at once', async () => {
    const { settle } = settleAt();
    expect(settle.active).toBe(false);
    settle.answered('peer', ['b1:3']);
    expect(settle.active).toBe(false);
    await settle.wait();
  });

  it('with no peer known, runs until the first answer in the life it is in now', async () => {
    const { lives, settle } = settleAt(['old']);
    settle.begin(60_000);
    expect(settle.active).toBe(true);
    lives[0] = 'b2'; // the reset's move adopted the new life
    let ended = false;
    const waiting = settle.wait().then(() => {
      ended = true;
    });
    settle.answered('peer', ['old:9']); // an answer of the life before: not this reset's
    await Promise.resolve();
    expect(ended).toBe(false);
    settle.answered('peer', ['b2:1']);
    await waiting;
    expect(ended).toBe(true);
    expect(settle.active).toBe(false);
  });

  it('says when a wait ran the bound out (metric resetWaitRanOut), not when answers ended it', async () => {
    const { at, lives, settle } = settleAt(['b2']);
    let ranOut = 0;
    settle.ranOut = () => ranOut++;
    settle.heard('peer');
    settle.begin(60_000);
    const answered = settle.wait();
    settle.answered('peer', ['b2:1']);
    await answered;
    expect(ranOut, 'ended by the answer').toBe(0);
    lives[0] = 'b3';
    settle.begin(30); // a reset the peer does not answer
    await settle.wait();
    at.now += 30;
    expect(settle.active).toBe(false);
    expect(ranOut, 'ran its bound out').toBe(1);
    lives[0] = 'b4';
    settle.heard('peer');
    settle.begin(30); // nobody waits for it: nothing ran out for a read
    at.now += 30;
    expect(settle.active).toBe(false);
    expect(ranOut).toBe(1);
  });

  it('ends at once when every known peer answered before it began (they found the reset first)', () => {
    const { settle } = settleAt(['b2']);
    settle.answered('a', ['b2:4']);
    settle.answered('b', ['b2:7']);
    settle.begin(60_000);
    expect(settle.active).toBe(false);
  });

  it('waits for every known peer, in every bucket', async () => {
    const { settle } = settleAt(['x2', 'y2']);
    settle.answered('a', ['x1:1', 'y1:1']);
    settle.answered('b', ['x1:1', 'y1:1']);
    settle.begin(60_000);
    settle.answered('a', ['x2:3', 'y2:3']);
    expect(settle.active).toBe(true);
    settle.answered('b', ['x2:3', 'y1:9']); // bucket 1 still of the life before
    expect(settle.active).toBe(true);
    settle.answered('b', ['x2:4', 'y2:4']);
    expect(settle.active).toBe(false);
  });

  it('ends at its bound, and forgets the peers that did not answer (one bound, not every reset)', async () => {
    const { at, lives, settle } = settleAt(['b1']);
    settle.answered('gone', ['b1:2']);
    settle.answered('here', ['b1:2']);
    lives[0] = 'b2';
    settle.begin(30);
    settle.answered('here', ['b2:1']);
    expect(settle.active).toBe(true);
    const started = performance.now();
    const waiting = settle.wait();
    at.now += 30;
    await waiting;
    expect(performance.now() - started).toBeGreaterThanOrEqual(25);
    expect(settle.active).toBe(false);
    expect(settle.peers).toBe(1);
    // The next reset waits for `here` alone.
    lives[0] = 'b3';
    settle.begin(60_000);
    expect(settle.active).toBe(true);
    settle.answered('here', ['b3:1']);
    expect(settle.active).toBe(false);
  });

  it(`keeps ${MAX_PEERS} peers at most, the oldest answer dropped first`, () => {
    const { settle } = settleAt(['b1']);
    for (let i = 0; i <= MAX_PEERS; i++) settle.answered(`p${i}`, ['b1:1']);
    expect(settle.peers).toBe(MAX_PEERS);
  });

  it('knows whether it answered in the life it is in now (it answers an ask again only then)', () => {
    const { lives, settle } = settleAt(['b1', 'c1']);
    expect(settle.answeredNow).toBe(false);
    settle.said(['b1:4', 'c1:4']);
    expect(settle.answeredNow).toBe(true);
    lives[1] = 'c2'; // a reset in bucket 1 not answered yet
    expect(settle.answeredNow).toBe(false);
    settle.said(['b1:5', 'c2:1']);
    expect(settle.answeredNow).toBe(true);
  });

  it('a writer heard (a write or an ask) is waited for too; hearing it again keeps its answer', () => {
    const { lives, settle } = settleAt(['b1']);
    settle.answered('peer', ['b1:1']);
    settle.heard('writer');
    settle.heard('peer'); // its answer stays
    expect(settle.peers).toBe(2);
    lives[0] = 'b2';
    settle.begin(60_000);
    settle.answered('peer', ['b2:1']);
    expect(settle.active, 'the writer has not answered').toBe(true);
    settle.answered('writer', ['b2:2']);
    expect(settle.active).toBe(false);
  });

  it('an answer without ticks (no life known to its sender) never ends a settle', () => {
    const { settle } = settleAt(['b1']);
    settle.begin(60_000);
    settle.answered('peer', undefined);
    expect(settle.active).toBe(true);
  });
});
