import { describe, expect, it } from 'vitest';
import { planStreamQueue } from '../src/redis-tcp/queue.js';

// The write-behind queue's Redis names, written out (the rest of Strata's key layout is in
// packages/core/test/key-layout.test.ts). A running deployment's queued writes, its consumer
// group's pending entries and its dead letters live under these names: an upgrade that renames one
// orphans them (writes acknowledged to callers never flushed). Changing any of these is a FORMAT
// CHANGE: it needs a note in the changeset and an upgrade path, not just new literals here.

const names = (options: Parameters<typeof planStreamQueue>[0]) => {
  const { namespace, stream, group, deadLetterStream } = planStreamQueue(options, false).names;
  return { namespace, stream, group, deadLetterStream };
};

describe('write-behind queue names (a format: see the header)', () => {
  it('derive from the keyPrefix', () => {
    expect(names({ keyPrefix: 'app' })).toStrictEqual({
      namespace: 'app',
      stream: 'app:writes',
      group: 'app:flushers',
      deadLetterStream: 'app:writes:dead',
    });
  });

  it("default to Strata's own keyPrefix", () => {
    expect(names({})).toStrictEqual({
      namespace: 'strata',
      stream: 'strata:writes',
      group: 'strata:flushers',
      deadLetterStream: 'strata:writes:dead',
    });
  });

  it('the dead letters follow a renamed stream; the group does not', () => {
    expect(names({ keyPrefix: 'app', stream: 'jobs' })).toStrictEqual({
      namespace: 'app',
      stream: 'jobs',
      group: 'app:flushers',
      deadLetterStream: 'jobs:dead',
    });
  });
});
