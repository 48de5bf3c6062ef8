import { defineSchema } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { createUpstashL2 } from '@strata/core/upstash';
import { testDevstack } from '@strata/devstack/testing';
import { eq } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { READ_TAGS } from '../../packages/core/src/l2/scripts.js';
import { reorderSuite, runsScript } from '../support/reorder-suite.js';

/**
 * A tag's value read from Redis is trusted for 5 s without a bus message, as a generation is. Over
 * HTTP the reply of that read can come back late: the 5 s must count from when the read was sent
 * (Redis read the value then, or later), not from when its reply came back, else an instance trusts a
 * value older than 5 s, and serves rows of a tag `invalidateTags` moved, for as long as the reply was late.
 */
/** A READ_TAGS of at least one tag (the clock's key and a tag's: not the stamp's read of the clock alone). */
const tagRead = runsScript([READ_TAGS], (c) => Number(c[2]) >= 2);

describe('a tag read whose reply comes back late', () => {
  const suite = reorderSuite('reorder_tag');

  it('is trusted 5 s from when it was sent: then a move of the tag is read', async () => {
    const schema = defineSchema({
      table: suite.stack.tables.accounts,
      name: 'tagged',
      l1: false,
      tags: (row) => [`lvl:${String(row.level)}`],
    });
    const clock = manualClock();
    const make = (url: string, time?: typeof clock) => {
      const strata = suite.stack.strata({
        l2: createUpstashL2({ url, token: testDevstack().upstash!.token }),
        schemas: [schema],
        timeouts: { l2: '5s' },
        ...(time && { clock: time }),
      });
      suite.opened.push(strata);
      return strata;
    };
    const a = make(testDevstack().upstash!.url);
    const b = make(suite.proxy.url, clock); // the instance under test: no bus, a manual clock
    await a.set(schema, { id: 't1', name: 'v0', level: 3 });
    await a.invalidateTags(['lvl:3']); // the tag has a value (moved once)
    expect((await a.get(schema, 't1')).name).toBe('v0'); // cached in L2, stamped after the move

    // B reads the row: its tag's value is not known there, so B reads it, and the reply is held
    // while B's clock moves on 4 s.
    const late = suite.proxy.gate('reply', tagRead, 1);
    const first = b.get(schema, 't1');
    await expect.poll(() => late.held()).toBe(1);
    clock.advance(4_000);
    // Meanwhile Postgres changes behind the cache and A moves the tag: its rows go.
    await suite.stack.db
      .update(suite.stack.tables.accounts)
      .set({ name: 'after' })
      .where(eq(suite.stack.tables.accounts.id, 't1'));
    await a.invalidateTags(['lvl:3']);
    late.open();
    expect((await first).name).toBe('v0'); // concurrent with the move: either would do

    // 5.5 s after B sent that read (and after A's move): B may no longer trust the value it read.
    clock.advance(1_500);
    expect((await b.get(schema, 't1')).name).toBe('after');
  });
});
