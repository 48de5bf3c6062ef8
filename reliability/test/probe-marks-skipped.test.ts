import { createRedisPubSubBus } from '@strata/adapter-node/redis-tcp';
import { defineSchema } from '@strata/core';
import { createDrizzleL3 } from '@strata/core/drizzle';
import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { heldL3 } from '../support/held-l3.js';
import { scratchApp } from '../support/scratch-app.js';

// A transaction on a write-behind schema takes its version from the app's Redis counter before its
// statement reaches Postgres (RESERVE), and Postgres applies each of its rows only over an older
// version. Here a partial write-behind set of the same key made after the reservation (a later
// version, n only) is flushed while the transaction's statement is still on its way (helper "marks").

describe('a transaction at a reserved version and a later partial set that lands first', () => {
  const scratch = scratchApp('marks_skip');
  const { pgName, db, admin, name, redisUrl } = scratch;
  const coherence = () => ({ bus: createRedisPubSubBus({ url: redisUrl, channel: `${name}:bus` }) });
  const table = pgSchema(pgName).table('items', {
    id: text('id').primaryKey(),
    n: integer('n'),
    note: text('note'),
    extra: text('extra'),
  });
  const behind = defineSchema({ name: 'items', table, writeMode: 'write-behind' });
  scratch.migrate(table);
  const row = async (id: string) =>
    (await admin.query(`select id, n, note, extra from "${pgName}".items where id = $1`, [id])).rows[0] ??
    null;

  // Was a KNOWN LOSS (it.fails): the partial set P3 (n only) is ordered after the transaction (its
  // version is newer) and leaves note and extra to it, but it reads the row before the transaction
  // reached Postgres and nothing marks the key (no write of it was queued), so it carries neither;
  // it lands first, and Postgres then skipped the transaction's row as older. The transaction
  // committed and reported success; Postgres ended at { n: 3, note: 'stored', extra: 'stored' }: its
  // note and extra were lost, silently. Now a set a transaction's statement skips as older is merged
  // after the commit as a refused flush is (`mergeRefused`: P3's version row says it set only `n`),
  // and the instances holding P3's row drop it (the key's version is unchanged: told by the bus).
  it('the partial set flushed before the transaction commits: the transaction keeps the columns the set left out', async () => {
    const held = heldL3(createDrizzleL3(db, { migrationsSchema: pgName }));
    const b = scratch.strata({ schemas: [behind], coherence: coherence() });
    const t = scratch.strata({ schemas: [behind], l3: held.l3, coherence: coherence() });
    await b.set(behind, { id: 's', n: 0, note: 'stored', extra: 'stored' });
    await b.flushDirty();
    held.holdNext();
    const writing = t.tx().set(behind, { id: 's', n: 2, note: 'tx', extra: 'tx' }).commit();
    await expect.poll(() => held.reached(), { timeout: 5_000 }).toBe(true);
    await b.set(behind, { id: 's', n: 3 }); // P3, after the reservation
    await b.flushDirty(); // lands first
    held.open();
    const committed = await writing.then(
      () => 'committed',
      () => 'refused',
    );
    const expected = { id: 's', n: 3, note: 'tx', extra: 'tx' };
    // Either the transaction's columns are kept under P3, or it does not report success.
    expect(committed === 'refused' ? 'refused' : await row('s')).toEqual(
      committed === 'refused' ? 'refused' : expected,
    );
    if (committed === 'committed') {
      expect(await t.find(behind, 's')).toEqual(expected);
      await expect.poll(() => b.find(behind, 's'), { timeout: 5_000 }).toEqual(expected);
    }
  });
});
