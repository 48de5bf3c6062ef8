import { integer, pgSchema, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { jsonCodec } from '../src/codec/json-codec.js';
import { bucketRoot, KeyRouter } from '../src/engine/buckets.js';
import type { KeySpace } from '../src/engine/keys.js';
import { tagClockKey, tagKey } from '../src/engine/tag-keys.js';
import { defineSchema } from '../src/index.js';

// The bucketed key layout (config.buckets, Redis Cluster layout C: docs/cluster-notes.md), written
// out. With one bucket every name must be today's byte for byte (key-layout.test.ts pins the same
// literals for KeySpace): an app of one bucket needs no migration. Bucket assignment is part of the
// format too: another hash, or another input to it, moves every row of a running app (its pending
// write-behind rows, its version counters) to keys nobody reads. Changing anything here is a FORMAT
// CHANGE (a changeset note and an upgrade path), not an update of these literals.

const table = pgSchema('shop').table('players', {
  id: text('id').primaryKey(),
  region: text('region').notNull(),
  score: integer('score'),
});
const schema = defineSchema({ table });

describe('bucketed L2 key layout (a format: see the header)', () => {
  it('one bucket: every name is the unbucketed layout, byte for byte', () => {
    const router = new KeyRouter('app', schema, jsonCodec.name, 1);
    expect(router.spaces).toHaveLength(1);
    expect(bucketRoot('app', 0, 1)).toBe('app');
    expect(['p1', 'p2', '42', 'ü'].map((id) => router.bucket(id))).toStrictEqual([0, 0, 0, 0]);
    expect(names(router.of('p1'))).toStrictEqual({
      base: 'app:shop.players',
      gen: 'app:shop.players:gen',
      sgen: 'app:shop.players:sgen',
      ver: 'app:shop.players:ver',
      moved: 'app:shop.players:moved',
      boot: 'app:boot',
      tick: 'app:tick',
      l3Claim: 'app:l3',
      shapes: 'app:shop.players:shapes',
      shape: '1j607dp-json',
      row: 'app:shop.players:1j607dp-json:r:p1',
      rowOfOtherShape: 'app:shop.players:0abc123-json:r:p1',
      tag: 'app:tag:region:eu',
      refreshLease: 'app:shop.players:1j607dp-json:lease:p1',
      pendingIndex: 'app:shop.players:1j607dp-json:pending',
      pendingIndexOfOtherShape: 'app:shop.players:0abc123-json:pending',
      list: 'app:shop.players:1j607dp-json:q2:ab12',
    });
  });

  it('four buckets: each bucket is the whole layout under its own hash tag {root#b}', () => {
    const router = new KeyRouter('app', schema, jsonCodec.name, 4);
    expect(router.spaces.map((keys) => keys.tickKey)).toStrictEqual([
      '{app#0}:tick',
      '{app#1}:tick',
      '{app#2}:tick',
      '{app#3}:tick',
    ]);
    expect(names(router.spaces[2]!)).toStrictEqual({
      base: '{app#2}:shop.players',
      gen: '{app#2}:shop.players:gen',
      sgen: '{app#2}:shop.players:sgen',
      ver: '{app#2}:shop.players:ver',
      moved: '{app#2}:shop.players:moved',
      boot: '{app#2}:boot',
      tick: '{app#2}:tick',
      l3Claim: '{app#2}:l3',
      shapes: '{app#2}:shop.players:shapes',
      shape: '1j607dp-json',
      row: '{app#2}:shop.players:1j607dp-json:r:p1',
      rowOfOtherShape: '{app#2}:shop.players:0abc123-json:r:p1',
      tag: '{app#2}:tag:region:eu', // not used: the app's tags live in bucket 0 (below)
      refreshLease: '{app#2}:shop.players:1j607dp-json:lease:p1',
      pendingIndex: '{app#2}:shop.players:1j607dp-json:pending',
      pendingIndexOfOtherShape: '{app#2}:shop.players:0abc123-json:pending',
      list: '{app#2}:shop.players:1j607dp-json:q2:ab12',
    });
    // The app's tags and tag clock: in bucket 0 (one slot, BUMP_TAGS stays one atomic script).
    expect([
      tagKey(bucketRoot('app', 0, 4), 'region:eu'),
      tagClockKey(bucketRoot('app', 0, 4)),
    ]).toStrictEqual(['{app#0}:tag:region:eu', '{app#0}:tagclock']);
    expect(router.spaces[0]!.tag('region:eu')).toBe('{app#0}:tag:region:eu');
    for (const [b, keys] of router.spaces.entries())
      for (const key of Object.values(names(keys)).filter((k) => k.includes(':')))
        expect(hashTag(key), key).toBe(`app#${b}`);
  });

  it("a row's bucket is a hash of the schema's key identity and its id, mod the count (pinned)", () => {
    const ids = ['p1', 'p2', 'p3', 'p4', 'p5', 'p6', '42', 'ü'];
    const four = new KeyRouter('app', schema, jsonCodec.name, 4);
    const sixteen = new KeyRouter('app', schema, jsonCodec.name, 16);
    expect(ids.map((id) => four.bucket(id))).toStrictEqual([1, 0, 2, 3, 3, 3, 3, 1]);
    expect(ids.map((id) => sixteen.bucket(id))).toStrictEqual([1, 4, 2, 15, 3, 7, 11, 13]);
    // The row's keys are those of its bucket.
    expect(four.of('p1').row('p1')).toBe('{app#1}:shop.players:1j607dp-json:r:p1');
    // The app's keyPrefix is not an input: the same row is in the same bucket under another app.
    expect(ids.map((id) => new KeyRouter('other', schema, jsonCodec.name, 4).bucket(id))).toStrictEqual(
      ids.map((id) => four.bucket(id)),
    );
    // The schema's key identity is: another table's row of the same id may land elsewhere.
    const renamed = new KeyRouter('app', defineSchema({ table, l2: { keyPrefix: 'p' } }), jsonCodec.name, 16);
    expect(ids.map((id) => renamed.bucket(id))).not.toStrictEqual(ids.map((id) => sixteen.bucket(id)));
  });

  it('sequential ids spread evenly over the buckets (no bucket off its share by 15 %)', () => {
    const router = new KeyRouter('app', schema, jsonCodec.name, 16);
    for (const id of [(i: number) => `player-${i}`, String, (i: number) => `u${i}`]) {
      const counts = new Array<number>(16).fill(0);
      for (let i = 0; i < 16_000; i++) counts[router.bucket(id(i))]! += 1;
      expect(Math.min(...counts)).toBeGreaterThan(850);
      expect(Math.max(...counts)).toBeLessThan(1_150);
    }
    // Neighbours (p1, p2, …) differ in their last character only: they must not share a bucket.
    expect(
      new Set(['p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7', 'p8'].map((id) => router.bucket(id))).size,
    ).toBeGreaterThan(4);
  });
});

/** The key Redis Cluster hashes: what the first `{…}` holds, if non-empty (else the whole key). */
function hashTag(key: string): string {
  const open = key.indexOf('{');
  const close = key.indexOf('}', open + 1);
  return open >= 0 && close > open + 1 ? key.slice(open + 1, close) : key;
}

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
    pendingIndexOfOtherShape: keys.pendingIndexOf('0abc123-json'),
    list: keys.list('ab12'),
  };
}
