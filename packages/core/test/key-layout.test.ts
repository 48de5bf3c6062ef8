import { integer, jsonb, pgSchema, text, timestamp } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { invalidationChannel } from '../src/bus/channel.js';
import { relayKeys } from '../src/capture/relay-keys.js';
import { jsonCodec } from '../src/codec/json-codec.js';
import { msgpackCodec } from '../src/codec/msgpack-codec.js';
import { KeySpace } from '../src/engine/keys.js';
import { tagClockKey, tagKey } from '../src/engine/tag-keys.js';
import { defineSchema } from '../src/index.js';

// Every Redis key name Strata builds, written out. A running deployment holds state under these
// names: pending write-behind rows and their index, the version counter, generations, tag values,
// the change relay's cursor. An upgrade that renames one silently orphans that state (pending
// writes never flushed, invalidations lost, an old cursor re-read). So changing anything here is a
// FORMAT CHANGE: it needs a note in the changeset and an upgrade path (or an old-name fallback),
// not just an update of these literals. The write-behind stream / group / dead-letter names are
// built in adapter-node: see packages/adapter-node/test/queue-key-layout.test.ts.

const table = pgSchema('shop').table('players', {
  id: text('id').primaryKey(),
  region: text('region').notNull(),
  score: integer('score'),
  meta: jsonb('meta'),
  seenAt: timestamp('seen_at'),
  secret: text('secret'),
});
const schema = defineSchema({
  table,
  tags: (row) => [`region:${row.region}`],
  fields: { secret: { encrypted: true } },
});

describe('L2 key layout (a format: see the header)', () => {
  it('the schema fingerprint is fixed', () => {
    expect(schema.identity).toBe('shop.players');
    expect(schema.fingerprint).toBe('0tyt30pt');
  });

  it('KeySpace names, JSON codec', () => {
    const keys = new KeySpace('app', schema, jsonCodec.name);
    expect(names(keys)).toStrictEqual({
      base: 'app:shop.players',
      gen: 'app:shop.players:gen',
      sgen: 'app:shop.players:sgen',
      ver: 'app:shop.players:ver',
      moved: 'app:shop.players:moved',
      boot: 'app:boot',
      tick: 'app:tick',
      l3Claim: 'app:l3',
      shapes: 'app:shop.players:shapes',
      shape: '0tyt30pt-json',
      row: 'app:shop.players:0tyt30pt-json:r:p1',
      rowOfOtherShape: 'app:shop.players:0abc123-json:r:p1',
      tag: 'app:tag:region:eu',
      refreshLease: 'app:shop.players:0tyt30pt-json:lease:p1',
      pendingIndex: 'app:shop.players:0tyt30pt-json:pending',
      list: 'app:shop.players:0tyt30pt-json:q2:ab12',
    });
  });

  it('KeySpace names, MessagePack codec', () => {
    const keys = new KeySpace('app', schema, msgpackCodec.name);
    expect(names(keys)).toStrictEqual({
      base: 'app:shop.players',
      gen: 'app:shop.players:gen',
      sgen: 'app:shop.players:sgen',
      ver: 'app:shop.players:ver',
      moved: 'app:shop.players:moved',
      boot: 'app:boot',
      tick: 'app:tick',
      l3Claim: 'app:l3',
      shapes: 'app:shop.players:shapes',
      shape: '0tyt30pt-msgpack',
      row: 'app:shop.players:0tyt30pt-msgpack:r:p1',
      rowOfOtherShape: 'app:shop.players:0abc123-json:r:p1',
      tag: 'app:tag:region:eu',
      refreshLease: 'app:shop.players:0tyt30pt-msgpack:lease:p1',
      pendingIndex: 'app:shop.players:0tyt30pt-msgpack:pending',
      list: 'app:shop.players:0tyt30pt-msgpack:q2:ab12',
    });
  });

  it('an explicit l2.keyPrefix replaces the table identity', () => {
    const renamed = defineSchema({ table, l2: { keyPrefix: 'p' } });
    expect(new KeySpace('app', renamed, jsonCodec.name).row('7')).toBe('app:p:0wdc6v1-json:r:7');
  });

  it('tag, change-relay and invalidation-bus names', () => {
    expect({
      tag: tagKey('app', 'region:eu'),
      clock: tagClockKey('app'),
      relay: relayKeys('app'),
      // The Workers log bus's stream is this plus ':log' (adapter-workers create-strata.ts).
      channel: invalidationChannel('app'),
    }).toStrictEqual({
      tag: 'app:tag:region:eu',
      clock: 'app:tagclock',
      relay: { cursor: 'app:changes:cursor', movedAt: 'app:changes:at', lease: 'app:changes:lease' },
      channel: 'app:invalidate',
    });
  });
});

function names(keys: KeySpace) {
  return {
    base: keys.base,
    gen: keys.generationKey,
    sgen: keys.searchGenerationKey,
    ver: keys.versionKey,
    moved: keys.movedKey,
    boot: keys.bootKey,
    tick: keys.tickKey,
    l3Claim: keys.l3ClaimKey,
    shapes: keys.shapesKey,
    shape: keys.shape,
    row: keys.row('p1'),
    rowOfOtherShape: keys.rowOf('0abc123-json', 'p1'),
    tag: keys.tag('region:eu'),
    refreshLease: keys.refreshLease('p1'),
    pendingIndex: keys.pendingIndex,
    list: keys.list('ab12'),
  };
}
