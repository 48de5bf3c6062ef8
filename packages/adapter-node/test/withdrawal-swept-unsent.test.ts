import { isStrataError, type Strata } from '@strata/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { WRITE_FIELD } from '../src/redis-tcp/stream-entry.js';
import { poisonItems } from './support/poison-items.js';

// A write given up on is recorded withdrawn, then moved to the dead-letter stream; when the move
// fails, the entry is delivered again and dead-lettered then (dead-letter-send-failed.test.ts). But
// another dead letter's cleanup deleted withdrawals Postgres' versions had reached: a later write of
// the key, flushed by another instance of the app (its own stream), then a dead letter of that
// instance near the key, and the entry, delivered again, was refused as older and acked: the
// dead-letter stream empty, `onWriteError` told. Now a withdrawal is cleaned up only once its dead
// letter is in the dead-letter stream. Real Redis Streams, real Postgres.

const store = poisonItems('wd_unsent');
const { name, db, table, admin, errors, items, instance } = store;
const streamA = `${name}:writes-a`;
const streamB = `${name}:writes-b`;
let a: Strata;
let b: Strata;

beforeAll(async () => {
  a = instance(streamA, 'a');
  b = instance(streamB, 'b');
  await store.prepare(a);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await store.cleanup(`${streamA}:dead`, `${streamB}:dead`);
});

const reasons = async (stream: string) =>
  (await admin.xrange(`${stream}:dead`, '-', '+')).map(([, f]) => [
    (JSON.parse(f[f.indexOf(WRITE_FIELD) + 1]!) as { id: string }).id,
    f[f.indexOf('reason') + 1],
  ]);

it('a withdrawal whose dead letter is not in the dead-letter stream yet survives another dead letter’s cleanup', async () => {
  await a.set(items, { id: 'k2', n: -1 });
  await admin.set(`${streamA}:dead`, 'not a stream'); // the move fails: WRONGTYPE
  const failed = await a.flushDirty().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(String(failed)).toMatch(/WRONGTYPE/);
  await admin.del(`${streamA}:dead`);
  // A later write of k2 lands through B; then B dead-letters k3, whose cleanup looks at k2.
  await b.set(items, { id: 'k2', n: 2 });
  await b.flushDirty();
  await b.set(items, { id: 'k3', n: -3 });
  await b.flushDirty();
  expect((await reasons(streamB)).map(([id]) => id)).toEqual(['k3']);
  await a.flushDirty();
  expect({
    letters: await reasons(streamA),
    queued: await admin.xlen(streamA),
    errors: errors.map((e) => isStrataError(e, 'WRITE_BEHIND_MAX_RETRY')),
    stored: await db.select().from(table).orderBy(table.id),
  }).toEqual({
    letters: [['k2', expect.stringContaining('withdrawn')]],
    queued: 0,
    errors: [true, true],
    stored: [{ id: 'k2', n: 2 }],
  });
});
