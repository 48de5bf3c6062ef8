import { pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { invalidationChannel } from '../src/bus/channel.js';
import { decodeInvalidation, encodeInvalidation } from '../src/bus/message.js';
import { jsonCodec } from '../src/codec/json-codec.js';
import { bucketRoot } from '../src/engine/buckets.js';
import { KeySpace } from '../src/engine/keys.js';
import { tagClockKey, tagKey } from '../src/engine/tag-keys.js';
import { type CompiledSchema, defineSchema, isStrataError, Strata } from '../src/index.js';

// Pairs of configs of two apps (keyPrefix, buckets) and two tables (Postgres schema + name, or an
// l2.keyPrefix): no Redis key, no identity (bus and queue messages, `_strata_versions`,
// `_strata_writers`) and no base claim may be shared by two of them. Ordinary names keep what they
// had byte for byte. See key-layout-injective.test.ts for one app's key families.

const cols = { id: text('id').primaryKey() };
let n = 0;
const plain = (table: string) => defineSchema({ table: pgTable(table, cols), name: `s${++n}` });
const qualified = (schema: string, table: string) =>
  defineSchema({ table: pgSchema(schema).table(table, cols), name: `s${++n}` });
const named = (table: string, keyPrefix: string) =>
  defineSchema({ table: pgTable(table, cols), name: `s${++n}`, l2: { keyPrefix } });

/** Tables whose names are one character apart from one another's identity or keys. */
const TABLES: CompiledSchema[] = [
  plain('a'),
  plain('b'),
  plain('a.b'),
  qualified('a', 'b'),
  plain('a%2Eb'),
  qualified('a.b', 'c'),
  qualified('a', 'b.c'),
  plain('a.b.c'),
  plain('*tags'),
  plain('*tags:app'),
  qualified('*tags:app', 'x'),
  plain('%2Atags'),
  plain('tag'),
  plain('{x}'),
  qualified('{app}', 'b'),
  plain('a:b'),
];
/** App roots of valid keyPrefixes one apart from each other, bucketed roots included. */
const ROOTS = [
  'app',
  'app2',
  'app.x',
  'app.a',
  'app_tag',
  '{app}',
  '{app}x',
  'x{app}',
  bucketRoot('app', 0, 2),
];

/** Every key of an app with `root` over TABLES. */
function keysOf(root: string): string[] {
  const out = [
    tagClockKey(root),
    tagKey(root, 'gen'),
    tagKey(root, 'a.b'),
    `${invalidationChannel(root)}:log`,
  ];
  for (const schema of TABLES) {
    const k = new KeySpace(root, schema, jsonCodec.name);
    out.push(k.generationKey, k.versionKey, k.writerKey, k.pendingIndex, k.row('1'), k.bootKey, k.l3ClaimKey);
    if (k.baseClaimKey) out.push(k.baseClaimKey);
  }
  return out;
}

describe('qualified identities, one to one', () => {
  it('no two apps (keyPrefixes, buckets) share a key', () => {
    const owner = new Map<string, string>();
    const shared: string[] = [];
    for (const root of ROOTS)
      for (const key of new Set(keysOf(root))) {
        const other = owner.get(key);
        if (other !== undefined && other !== root) shared.push(`${key} <- ${other} & ${root}`);
        owner.set(key, root);
      }
    expect(shared).toStrictEqual([]);
  });

  it('a keyPrefix that would nest one app inside another is refused at config time', () => {
    // `app:tag` would put its keys under `app:tag:…`, app `app`'s tags; `app:x` under table `x`'s.
    for (const keyPrefix of ['app:tag', 'app:x', 'app:', '{app}:x', 'a{b}c{d}'])
      expect(
        (() => {
          try {
            new Strata({ keyPrefix });
            return undefined;
          } catch (err) {
            return isStrataError(err, 'INVALID_CONFIG') ? 'INVALID_CONFIG' : err;
          }
        })(),
        keyPrefix,
      ).toBe('INVALID_CONFIG');
  });

  it('no two tables share an identity: versions rows, writer claims, bus and queue messages', () => {
    const first = new Map<string, CompiledSchema>();
    const shared: string[] = [];
    for (const s of TABLES) {
      const o = first.get(s.identity);
      if (o) shared.push(`${s.identity} <- ${o.pgSchema}|${o.tableName} & ${s.pgSchema}|${s.tableName}`);
      else first.set(s.identity, s);
    }
    expect(shared).toStrictEqual([]);
    // Nor an app's own name on the bus: its tag moves' `*tags:{keyPrefix}` (and a bare `*tags`).
    const identities = [...first.keys()];
    for (const root of ROOTS) expect(identities).not.toContain(`*tags:${root}`);
    expect(identities).not.toContain('*tags');
  });

  it('ordinary names keep their identity and messages byte for byte; encoded ones go on the bus', () => {
    expect(qualified('shop', 'players').identity).toBe('shop.players');
    expect(plain('players').identity).toBe('players');
    expect(qualified('tenant-a', 'order_items').identity).toBe('tenant-a.order_items');
    expect(plain('a.b').identity).toBe('a%2Eb');
    expect(qualified('a.b', 'c').identity).toBe('a%2Eb.c');
    expect(plain('*tags').identity).toBe('%2Atags');
    expect(plain('a:b').identity).toBe('a:b');
    // The longest: two 63-byte names of dots, each byte encoded.
    const longest = qualified('.'.repeat(63), '.'.repeat(63)).identity;
    const wire = encodeInvalidation({ schema: longest, ids: ['1'], op: 'set', origin: 'o', app: 'app' });
    expect(decodeInvalidation(wire)?.schema).toBe(longest);
  });

  it('an l2.keyPrefix spelled like a table identity shares its base, and claims it for its own table', () => {
    // Keys of one base for two tables cannot be told apart by name (an l2.keyPrefix is free text):
    // each claims the base for its table (KEYS[10] of GENERATION), and the second is refused L2.
    const table = new KeySpace('app', qualified('shop', 'players'), jsonCodec.name);
    const other = new KeySpace('app', named('scores', 'shop.players'), jsonCodec.name);
    expect(other.base).toBe(table.base);
    expect(other.baseClaimKey).toBe(table.baseClaimKey);
    expect(table.claimTag).toBe('|shop.players');
    expect(other.claimTag).toBe('|scores');
  });
});
