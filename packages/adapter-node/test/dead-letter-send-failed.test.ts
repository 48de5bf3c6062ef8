import { isStrataError, type Strata } from '@strata/core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { poisonItems } from './support/poison-items.js';

// A write given up on is recorded withdrawn in Postgres, then moved to the dead-letter stream (one
// script). When that script fails (here: the dead-letter stream's key holds a string, WRONGTYPE),
// the entry stays in the stream and is delivered again; Postgres refuses it as withdrawn and it was
// acked as an older write: `onWriteError` told, the dead-letter stream empty, the entry gone. Now it
// is dead-lettered at that delivery. Real Redis Stream, real Postgres.

const store = poisonItems('dl_send');
const { name, db, table, admin, errors, items } = store;
const stream = `${name}:writes`;
const dead = `${stream}:dead`;
let strata: Strata;

beforeAll(async () => {
  strata = store.instance(stream, 'a');
  await store.prepare(strata);
});

afterAll(async () => {
  await strata?.close();
  await store.cleanup(dead);
});

it('a dead letter whose move to the dead-letter stream failed once is dead-lettered at its next delivery', async () => {
  await strata.set(items, { id: 'p1', n: -1 });
  await admin.set(dead, 'not a stream'); // the move fails: WRONGTYPE
  const failed = await strata.flushDirty().then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(String(failed)).toMatch(/WRONGTYPE/);
  expect(await admin.xlen(stream)).toBe(1);
  await admin.del(dead);
  await strata.flushDirty();
  const letters = await admin.xrange(dead, '-', '+');
  expect({
    letters: letters.map(([, fields]) => fields[fields.indexOf('reason') + 1]),
    queued: await admin.xlen(stream),
    errors: errors.map((e) => isStrataError(e, 'WRITE_BEHIND_MAX_RETRY')),
    stored: (await db.select().from(table)).length,
  }).toEqual({ letters: [expect.stringContaining('withdrawn')], queued: 0, errors: [true], stored: 0 });
});
