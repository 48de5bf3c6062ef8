import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { defineSchema } from '../src/index.js';
import { drivenScheduler } from '../testing/driven-scheduler.js';
import { modesFixture } from './support/modes-app.js';

// A write-behind write that goes to Postgres (another shape of its table is live: a rolling deploy)
// first waits for the other shape's queued writes of its keys that it would lose (a column it does
// not map): polled every 50 ms for at most `timeouts.queue`. Its waits are the host's (`scheduler.after`),
// so this test drives them: no sleep, and each wait's length is seen.

const modes = modesFixture('pending_wait');
/** The write's poll interval. */
const POLL_MS = 50;

/**
 * The write's next poll on the driven scheduler. An instance's bus subscription is bounded there too
 * (`timeouts.l2`, cancelled once it answers): such a deadline is passed over, never run.
 */
async function nextPoll(driven: ReturnType<typeof drivenScheduler>) {
  for (;;) {
    const wait = await driven.next();
    if (wait.ms === POLL_MS) return wait;
  }
}
/** The same table as a narrower deploy maps it: no `note`. */
const narrow = (pg: string) =>
  pgSchema(pg).table('items', { id: text('id').primaryKey(), n: integer('n').notNull() });

/**
 * An app whose older shape queued a write of `id` with a column the narrower shape lacks, and the
 * narrower shape's set of `id` under way, its waits on a driven scheduler.
 */
async function setWhileQueued(tag: string, id: string, timeouts?: { queue: number }) {
  const driven = drivenScheduler();
  const app = await modes.app(tag, { scheduler: driven.scheduler, ...(timeouts && { timeouts }) });
  const older = app.instance(app.behind);
  await older.set(app.behind, { id, n: 1, note: 'queued' });
  const schema = defineSchema({ name: 'items', table: narrow(modes.stack.name), writeMode: 'write-behind' });
  const writing = app.instance(schema).set(schema, { id, n: 2 });
  return { driven, older, writing, close: app.close };
}

describe("a write waiting for another shape's queued writes of its keys", () => {
  it('polls on the scheduler every 50 ms, then QUEUE_UNAVAILABLE once timeouts.queue is spent', async () => {
    const { driven, writing, close } = await setWhileQueued('bound', 'w1', { queue: 150 });
    const refused = writing.catch((err: unknown) => err);
    const waits: number[] = [];
    for (let i = 0; i < 3; i++) {
      const wait = await nextPoll(driven);
      waits.push(wait.ms);
      wait.task();
    }
    expect(await refused).toMatchObject({ code: 'QUEUE_UNAVAILABLE' });
    expect(waits).toEqual([50, 50, 50]);
    expect(driven.waits).toEqual([]);
    expect(await modes.inPostgres('w1')).toBeUndefined();
    await close();
  });

  it('goes on once the older shape flushed them', async () => {
    const { driven, older, writing, close } = await setWhileQueued('flushed', 'w2');
    const first = await nextPoll(driven);
    await older.flushDirty();
    first.task();
    await writing;
    expect(await modes.rowIn('w2')).toEqual({ id: 'w2', n: 2, note: 'queued' });
    expect(driven.waits).toEqual([]);
    await close();
  });
});
