import { pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import { describe, expect, it } from 'vitest';
import { invalidationChannel } from '../src/bus/channel.js';
import { relayKeys } from '../src/capture/relay-keys.js';
import { jsonCodec } from '../src/codec/json-codec.js';
import { KeySpace } from '../src/engine/keys.js';
import { tagClockKey, tagKey } from '../src/engine/tag-keys.js';
import { type CompiledSchema, defineSchema } from '../src/index.js';

// Inside one app (one keyPrefix) every Redis key names one thing: no two names a user can choose
// (table and Postgres schema names, `l2.keyPrefix`, tag names, row ids) may map to one key of two
// families, or of one family for two inputs. Before, an unqualified table `tag` had the base
// `app:tag`, so its generation `app:tag:gen` and counter `app:tag:ver` were the values of the tags
// `gen` and `ver`; a table `a:b` shared keys with table `a`, an unqualified `"a.b"` with `a.b`.
// The layout of ordinary names stays byte for byte (key-layout.test.ts).

const cols = { id: text('id').primaryKey() };
let named = 0;
/** A Strata schema name of its own: the table's name may hold what a Strata name may not. */
const plain = (name: string) => defineSchema({ table: pgTable(name, cols), name: `s${++named}` });
const qualified = (schema: string, name: string) =>
  defineSchema({ table: pgSchema(schema).table(name, cols), name: `s${++named}` });

const SHAPE = new KeySpace('app', plain('a'), jsonCodec.name).shape;
const APP_WORDS = ['tag', 'tagclock', 'boot', 'tick', 'l3', 'changes', 'writes', 'flushers', 'invalidate'];

const schemas: CompiledSchema[] = [
  ...APP_WORDS.map(plain),
  plain('a'),
  plain('a:b'),
  plain(`a:${SHAPE}:r`),
  plain('a.b'),
  qualified('a', 'b'),
  qualified('a.b', 'c'),
  qualified('a', 'b.c'),
  plain('a%2Eb'),
  plain('%74ag'),
  plain('a%3Ab'),
];
const TAGS = ['gen', 'ver', 'sgen', 'shapes', 'writer', 'x:y', `${SHAPE}:r:1`, `b:${SHAPE}:r:1`, 'clock'];
const IDS = ['gen', '1', 'a:b', 'ver'];

/** Every key the app names, each with what it is the key of. */
function keysOfApp(root: string): [key: string, owner: string][] {
  const out: [string, string][] = [];
  const app = (family: string, key: string) => out.push([key, `app ${family}`]);
  for (const schema of schemas) {
    const k = new KeySpace(root, schema, jsonCodec.name);
    const own = (family: string, key: string | undefined) => {
      if (key !== undefined) out.push([key, `${schema.tableName}|${schema.pgSchema} ${family}`]);
    };
    own('gen', k.generationKey);
    own('sgen', k.searchGenerationKey);
    own('ver', k.versionKey);
    own('vmark', k.versionMarkKey);
    own('moved', k.movedKey);
    own('baseClaim', k.baseClaimKey);
    own('shapes', k.shapesKey);
    own('writer', k.writerKey);
    own('pending', k.pendingIndex);
    own('pendingOf', k.pendingIndexOf('0other-json'));
    for (const id of IDS) {
      own(`row ${id}`, k.row(id));
      own(`rowOf ${id}`, k.rowOf('0other-json', id));
      own(`lease ${id}`, k.refreshLease(id));
      own(`list ${id}`, k.list(id));
    }
    app('boot', k.bootKey);
    app('tick', k.tickKey);
    app('l3', k.l3ClaimKey);
  }
  for (const tag of TAGS) app(`tag ${tag}`, tagKey(root, tag));
  app('tagclock', tagClockKey(root));
  const relay = relayKeys(root);
  app('relay cursor', relay.cursor);
  app('relay at', relay.movedAt);
  app('relay lease', relay.lease);
  app('write stream', `${root}:writes`);
  app('dead letters', `${root}:writes:dead`);
  app('log bus', `${invalidationChannel(root)}:log`);
  return out;
}

describe('L2 keys of one app are injective', () => {
  it('no key of one family is a key of another, whatever tables, tags and ids are named', () => {
    const owners = new Map<string, Set<string>>();
    for (const [key, owner] of keysOfApp('app')) owners.set(key, (owners.get(key) ?? new Set()).add(owner));
    const shared = [...owners]
      .filter(([, o]) => o.size > 1)
      .map(([key, o]) => `${key} <- ${[...o].join(' & ')}`);
    expect(shared).toStrictEqual([]);
  });

  it('ordinary names keep their keys; only names that could clash are escaped', () => {
    expect(new KeySpace('app', qualified('shop', 'players'), 'json').base).toBe('app:shop.players');
    expect(new KeySpace('app', plain('players'), 'json').base).toBe('app:players');
    expect(new KeySpace('app', plain('tag'), 'json').base).toBe('app:%74ag');
    expect(new KeySpace('app', plain('a.b'), 'json').base).toBe('app:a%2Eb');
    expect(new KeySpace('app', qualified('a', 'b.c'), 'json').base).toBe('app:a.b%2Ec');
    expect(new KeySpace('app', plain('a:b'), 'json').base).toBe('app:a%3Ab');
    expect(new KeySpace('app', plain('50%'), 'json').base).toBe('app:50%25');
    // An l2.keyPrefix replaces the identity (one given to two tables is shared: docs/semantics.md,
    // a claim refuses the second table), and is never one of the app's own words either.
    const named = defineSchema({ table: pgTable('x', cols), name: 'x', l2: { keyPrefix: 'tag' } });
    expect(new KeySpace('app', named, 'json').base).toBe('app:%74ag');
  });
});
