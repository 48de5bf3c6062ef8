import { createIoredisL2, createRedisStreamQueue } from '@strata/adapter-node/redis-tcp';
import { defineSchema, Strata, type StrataError } from '@strata/core';
import { manualClock } from '@strata/core/driver';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { expect, it } from 'vitest';
import { REFRESH_PASSED, restartSuite } from '../support/restart-suite.js';

// A write given up on is recorded withdrawn in Postgres, then dead-lettered. Its writer remembers it
// unflushed, so after a Redis reset it queues it again (`QueuedWrite.restored`). Such a copy,
// refused as withdrawn, was acked as older: right when the queue's original is dead-lettered on its
// own, wrong when the reset took the original (the Redis Stream queue on the Redis that reset) while
// its dead letter was unsent (the move to the dead-letter stream failed): the write then ended in
// no store, `onWriteError` told it was given up on. Now a restored copy whose dead letter is not
// known sent (`_strata_withdrawn.sent`) is dead-lettered; one known sent is acked as before.

const s = restartSuite('dl_unsent');

/** A write-behind app on `s`, its write of `id` at n 500 poison for good (a check constraint). */
async function poisonApp(id: string, queueUrl: string) {
  const { store } = s;
  const keyPrefix = `${store.name}-${id}`;
  const clock = manualClock(Date.now());
  const errors: string[] = [];
  let restored = 0; // writes its writer queued again after a reset (as logged)
  const quiet = () => {};
  const logger = {
    debug: quiet,
    info: quiet,
    error: quiet,
    warn: (message: string, fields?: Record<string, unknown>) => {
      if (message === 'restored write-behind rows L2 lost in a reset') restored += Number(fields?.restored);
    },
  };
  const schema = defineSchema({
    table: store.table,
    name: store.name,
    writeMode: 'write-behind',
    hooks: { onWriteError: (_id, error) => errors.push((error as StrataError).code) },
  });
  const queue = createRedisStreamQueue({ url: queueUrl, keyPrefix, allowVolatile: true });
  const writer = new Strata({
    l2: createIoredisL2(s.client()),
    l3: createDrizzleL3(store.db, { migrationsSchema: store.name }),
    clock,
    keyPrefix,
    logger,
    writeBehind: { queue, maxRetry: 1, threshold: 1_000_000 },
    schemas: [schema],
  });
  const check = `"${store.name}".items`;
  await store.pool.query(`alter table ${check} drop constraint if exists ${id}_small`);
  await store.pool.query(`alter table ${check} add constraint ${id}_small check (id <> '${id}' or n < 100)`);
  await writer.set(schema, { id, n: 1 });
  await writer.flushDirty();
  await writer.set(schema, { id, n: 500, label: 'dead' });
  const seen = async () => ({
    deadLetters: (await queue.deadLetters()).map((d) => [d.write?.id, d.write?.restored ?? false, d.reason]),
    queued: await queue.pending(),
    stored: (await store.pool.query(`select n from ${check} where id = $1`, [id])).rows,
    withdrawals: (
      await store.pool.query(
        `select sent from "${store.name}"._strata_withdrawn where schema = $1 and id = $2`,
        [schema.identity, id],
      )
    ).rows,
    errors,
    restored,
  });
  /** Redis restarts empty; the writer finds the reset at its flush and queues its write again. */
  const resetThenFlush = async () => {
    await s.restart({ dropData: true });
    clock.advance(REFRESH_PASSED);
    await writer.flushDirty();
    return seen();
  };
  return { writer, queue, resetThenFlush, close: () => writer.close() };
}

/** The write in one store: never in Postgres, one dead letter (`letter`), marked sent; told once. */
const deadLetteredOnce = (letter: readonly unknown[]) => ({
  deadLetters: [letter],
  queued: 0,
  stored: [{ n: 1 }],
  withdrawals: [{ sent: true }],
  errors: ['WRITE_BEHIND_MAX_RETRY'],
  restored: 1,
});

it('a restored copy of a withdrawn write whose dead letter the reset took unsent is dead-lettered', async () => {
  // The queue on the Redis that resets: the reset takes the original message.
  const app = await poisonApp('ru1', s.redis.url);
  try {
    await s.client().set(`${app.queue.stream}:dead`, 'not a stream'); // the move fails: WRONGTYPE
    const failed = await app.writer.flushDirty().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(String(failed)).toMatch(/WRONGTYPE/);
    // The reset takes the message and the string: the dead letter in no store; the copy comes.
    expect(await app.resetThenFlush()).toEqual(
      deadLetteredOnce(['ru1', true, expect.stringContaining('withdrawn')]),
    );
  } finally {
    await app.close();
  }
});

it('a restored copy of a withdrawn write whose dead letter was sent is acked: stored once', async () => {
  // The queue on the Redis that keeps running: its dead-letter stream keeps the dead letter.
  const app = await poisonApp('ru2', s.store.redisUrl);
  try {
    await app.writer.flushDirty();
    expect(await app.resetThenFlush()).toEqual(
      deadLetteredOnce(['ru2', false, expect.stringContaining('rejected by Postgres')]),
    );
  } finally {
    await app.close();
  }
});
