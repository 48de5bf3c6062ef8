import { describe, expect, it } from 'vitest';
import { HeardVersions, MAX_HEARD } from './heard-versions.js';
import { OwnPending, type Told } from './own-pending.js';

/** What `take` took: key, version, delete. */
const taken = (all: [string, Told][]) => all.map(([key, t]) => [key, t.version, t.deleted]);

/** A monotonic clock moved by hand. */
function heardAt(holdMs = 1_000) {
  const at = { now: 0 };
  return { at, heard: new HeardVersions(() => at.now, holdMs) };
}

describe('HeardVersions', () => {
  it('keeps the newest version told per key; an equal or older one changes nothing', () => {
    const { heard } = heardAt();
    heard.heard('k', 5, false);
    heard.heard('k', 4, true);
    heard.heard('k', 7, true);
    heard.heard('k', 7, false);
    expect([heard.has('k', 7), heard.has('k', 8), heard.has('other', 0)]).toEqual([true, false, false]);
    const took = heard.take();
    expect(taken(took)).toEqual([['k', 7, true]]);
    expect([heard.has('k', 7), heard.size]).toEqual([false, 1]); // taken: absent, until its pass completes
    heard.drop(took);
    expect(heard.size).toBe(0);
  });

  it('keeps what a pass took until it completes: a failed pass leaves it to the next, unless something newer came', () => {
    const { heard } = heardAt();
    heard.heard('a', 5, false);
    heard.heard('b', 5, false);
    heard.heard('c', 5, false);
    const failed = heard.take(); // this pass fails: nothing dropped
    heard.heard('b', 5, false); // told again at the same version (its writer's restore): live again
    heard.heard('c', 6, false); // a newer write
    expect([heard.has('a', 5), heard.has('b', 5), heard.has('c', 6)]).toEqual([false, true, true]);
    const again = heard.take();
    expect(taken(again)).toEqual([
      ['a', 5, false],
      ['b', 5, false],
      ['c', 6, false],
    ]);
    heard.drop(failed); // a late end of the failed pass drops only what is still as it took it: 'a'
    expect(heard.size).toBe(2);
    heard.drop(again);
    expect(heard.size).toBe(0);
  });

  it('forgets a key this instance saw at a version as new (its flush, its own write), not an older one', () => {
    const { heard } = heardAt();
    heard.heard('a', 5, false);
    heard.heard('b', 5, false);
    heard.passed('a', 4);
    heard.passed('b', 5);
    expect(heard.take().map(([key]) => key)).toEqual(['a']);
  });

  it('is bounded by age (the oldest go as new ones come) and count', () => {
    const { at, heard } = heardAt(1_000);
    heard.heard('old', 1, false);
    at.now = 600;
    heard.heard('young', 2, false);
    at.now = 1_100;
    heard.heard('new', 3, false);
    expect(heard.size).toBe(2);
    expect(heard.take().map(([key]) => key)).toEqual(['young', 'new']);

    for (let i = 0; i <= MAX_HEARD; i++) heard.heard(`k${i}`, i + 1, false);
    expect(heard.size).toBe(MAX_HEARD);
    expect(heard.take()[0]![0]).toBe('k1');
  });
});

describe('OwnPending: what it hears', () => {
  it('a key it holds no write of is heard; one whose own write the message replaced is kept as replaced', () => {
    const own = new OwnPending();
    own.record('mine', 3, 'payload', 'row');
    own.replaced('mine', 4);
    own.replaced('other', 9, true);
    own.replaced('stale', 2);
    const replaced = own.takeReplaced();
    expect(taken(replaced)).toEqual([['mine', 4, false]]);
    expect(taken(own.takeReplaced()), 'kept until its pass completes').toEqual([['mine', 4, false]]);
    own.dropReplaced(replaced);
    expect(own.takeReplaced()).toEqual([]);
    expect(taken(own.heard.take())).toEqual([
      ['other', 9, true],
      ['stale', 2, false],
    ]);
  });

  it('an own write or a commit at a version as new ends what it heard; alone, heard keys make no size', () => {
    const own = new OwnPending();
    own.replaced('a', 5);
    own.replaced('b', 5);
    expect(own.size).toBe(0);
    expect(own.afterReset).toBe(true);
    own.record('a', 6, 'payload', 'row');
    own.passed('b', 5);
    expect(own.heard.size).toBe(0);
  });
});
