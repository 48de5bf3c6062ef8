import { eq, gt, sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { defineSchema } from '../schema/define-schema.js';
import { Q } from './builder.js';
import { canonicalValue } from './canonical.js';
import { compileQuery } from './compile.js';
import {
  canonicalQuery,
  fingerprintOf,
  knownFingerprint,
  normalizeQuery,
  queryFingerprint,
} from './fingerprint.js';
import { players, playersTable } from './players.fixture.js';
import type { Query } from './types.js';

const fp = (query: Query) => queryFingerprint(players, query);
const base = () =>
  Q().where('region = $1 AND level > $2', 'eu', 10).orderBy('score').limit(25).fields('id', 'level');

describe('queryFingerprint', () => {
  it('is a SHA-256 hex, equal for equal queries', async () => {
    const a = await fp(base().build());
    expect(a).toMatch(/^[0-9a-f]{64}$/);
    expect(await fp(base().build())).toBe(a);
  });

  it('ignores field order, duplicates, SQL-vs-JS names, whitespace and tier flags', async () => {
    const a = await fp(base().build());
    const same = [
      Q()
        .where('region = $1 AND level > $2', 'eu', 10)
        .orderBy('score')
        .limit(25)
        .fields('level', 'id', 'level'),
      Q()
        .where('  region = $1\tAND   level > $2 ', 'eu', 10)
        .orderBy('score')
        .limit(25)
        .fields('id', 'level'),
      base().forceL3().forceL2(),
      base().orderBy('score'),
    ];
    for (const q of same) expect(await fp(q.build())).toBe(a);
    expect(await fp(Q().orderBy('created_at').build())).toBe(await fp(Q().orderBy('createdAt').build()));
    expect(await fp(Q().orderBy('id').build())).toBe(await fp(Q().build()));
  });

  it('is the same for equal jsonb objects with keys in another order', async () => {
    const a = Q()
      .where('profile @> $1', { a: 1, b: [1, { c: 2, d: 3 }] })
      .build();
    const b = Q()
      .where('profile @> $1', { b: [1, { d: 3, c: 2 }], a: 1, z: undefined })
      .build();
    expect(await fp(a)).toBe(await fp(b));
  });

  it('changes when any arg value or type, where, order, direction, limit, offset or fields changes', async () => {
    const variants: Query[] = [
      base().build(),
      Q()
        .where('region = $1 AND level > $2', 'eu', 11)
        .orderBy('score')
        .limit(25)
        .fields('id', 'level')
        .build(),
      Q()
        .where('region = $1 AND level > $2', 'eu', '10')
        .orderBy('score')
        .limit(25)
        .fields('id', 'level')
        .build(),
      Q()
        .where('region = $1 AND level > $2', 'eu', 10n)
        .orderBy('score')
        .limit(25)
        .fields('id', 'level')
        .build(),
      Q()
        .where('region = $1 AND level >= $2', 'eu', 10)
        .orderBy('score')
        .limit(25)
        .fields('id', 'level')
        .build(),
      Q()
        .where('region = $1 AND level > $2', 'us', 10)
        .orderBy('score')
        .limit(25)
        .fields('id', 'level')
        .build(),
      base().orderBy('level').build(),
      base().desc().build(),
      base().limit(26).build(),
      base().offset(1).build(),
      base().fields('score').build(),
      Q().orderBy('score').limit(25).fields('id', 'level').build(),
      Q()
        .where('region = $1 AND level > $2', 'eu', 10)
        .orderBy('level', 'score')
        .limit(25)
        .fields('id', 'level')
        .build(),
    ];
    const hashes = await Promise.all(variants.map(fp));
    expect(new Set(hashes).size).toBe(variants.length);
  });

  it('tells apart values that print alike', async () => {
    const args: unknown[] = [
      1,
      '1',
      1n,
      true,
      'true',
      null,
      'null',
      new Date(0),
      new Date(0).toISOString(),
      new Uint8Array([0x61]),
      'a',
      ['a'],
      { 0: 'a' },
      [],
      {},
      '',
      Number.NaN,
      'NaN',
    ];
    const hashes = await Promise.all(args.map((arg) => fp(Q().where('x = $1', arg).build())));
    expect(new Set(hashes).size).toBe(args.length);
  });

  it('renders a Drizzle condition with its params', async () => {
    const a = await fp(Q().where(gt(playersTable.level, 10)).build());
    expect(await fp(Q().where(gt(playersTable.level, 10)).build())).toBe(a);
    expect(await fp(Q().where(gt(playersTable.level, 11)).build())).not.toBe(a);
    expect(await fp(Q().where(eq(playersTable.level, 10)).build())).not.toBe(a);
    expect(normalizeQuery(players, Q().where(sql`level > ${'10'}`).build())).toContain('["s","10"]');
  });

  it('differs between schemas', async () => {
    const other = defineSchema({ table: playersTable, name: 'players_copy' });
    const q = Q().build();
    expect(await queryFingerprint(other, q)).not.toBe(await fp(q));
  });

  it('validates like compileQuery', async () => {
    await expect(fp(Q().orderBy('nope').build())).rejects.toMatchObject({ code: 'INVALID_QUERY' });
  });
});

describe('fingerprintOf', () => {
  it('hashes a canonical string once, then answers it synchronously; the memo is keyed by the whole string', async () => {
    const query = Q().where('level > $1', 123_456).build();
    const canonical = canonicalQuery(players, compileQuery(players, query));
    expect(canonical).toBe(normalizeQuery(players, query));
    expect(knownFingerprint(canonical)).toBeUndefined();
    const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(canonical)));
    const expected = [...digest].map((b) => b.toString(16).padStart(2, '0')).join('');
    expect(await fingerprintOf(canonical)).toBe(expected);
    expect(knownFingerprint(canonical)).toBe(expected);
    expect(await queryFingerprint(players, query)).toBe(expected);
    expect(knownFingerprint(`${canonical} `)).toBeUndefined();
    expect(await fingerprintOf(`${canonical} `)).not.toBe(expected);
  });
});

describe('normalizeQuery', () => {
  it('is readable canonical JSON of the compiled query', () => {
    const text = normalizeQuery(players, base().desc().offset(5).build());
    expect(JSON.parse(text)).toEqual({
      v: 1,
      schema: ['players', players.fingerprint],
      where: '(region = $1 AND level > $2)',
      params: [
        ['s', 'eu'],
        ['n', '10'],
      ],
      orderBy: [
        ['score', true],
        ['id', true],
      ],
      limit: 25,
      offset: 5,
      fields: ['id', 'level'],
    });
  });
});

describe('canonicalValue', () => {
  it('tags types and sorts keys', () => {
    expect(canonicalValue({ b: 1n, a: new Date(0) })).toEqual([
      'o',
      'Object',
      [
        ['a', ['d', '1970-01-01T00:00:00.000Z']],
        ['b', ['i', '1']],
      ],
    ]);
    expect(canonicalValue(new Uint8Array([0, 255]))).toEqual(['x', '00ff']);
  });

  it('refuses cycles and functions', () => {
    const cycle: unknown[] = [];
    cycle.push(cycle);
    expect(() => canonicalValue(cycle)).toThrow(expect.objectContaining({ code: 'INVALID_QUERY' }));
    expect(() => canonicalValue(() => 1)).toThrow(expect.objectContaining({ code: 'INVALID_QUERY' }));
  });

  it('encodes an object by what a driver binds: toPostgres(), then toJSON(); private state counts', () => {
    class Money {
      readonly #cents: number;
      constructor(cents: number) {
        this.#cents = cents;
      }
      toJSON() {
        return this.#cents;
      }
    }
    class Level {
      constructor(readonly value: number) {}
      toPostgres() {
        return `L${this.value}`;
      }
      toJSON() {
        return 'ignored: node-postgres prefers toPostgres';
      }
    }
    expect(canonicalValue(new Money(1))).toEqual(['J', ['n', '1']]);
    expect(canonicalValue(new Money(1))).not.toEqual(canonicalValue(new Money(2)));
    expect(canonicalValue(new Level(3))).toEqual(['P', ['s', 'L3']]);
    const selfish = { toJSON: () => selfish };
    Object.setPrototypeOf(selfish, Money.prototype);
    expect(() => canonicalValue({ a: [new Money(1), selfish] })).toThrow(
      expect.objectContaining({ code: 'INVALID_QUERY' }),
    );
    const throwing = new (class {
      toJSON(): never {
        throw new Error('no');
      }
    })();
    expect(() => canonicalValue(throwing)).toThrow(expect.objectContaining({ code: 'INVALID_QUERY' }));
    // Dates and bytes keep their own encodings (a Buffer has toJSON too).
    expect(canonicalValue(new Uint8Array([1]))).toEqual(['x', '01']);
  });
});
