import { isStrataError, Q, type Strata, Strata as StrataClass, type StrataErrorCode } from '@strata/core';
import { type Delivery, decodeEnvelope, decodeQueuedWrite, encodeInvalidation } from '@strata/core/driver';
import { INJECTION_CORPUS, WHERE_TEXT_INJECTION_CORPUS } from '@strata/core/testing';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { record } from '../support/ledger.js';
import { bounded, type TierStack, testKey, tierStack } from '../support/stack-tiers.js';

const KEY = testKey(11);
const SEED = [
  { id: 'h1', name: 'ada', level: 1, email: 'ada@hostile.example' },
  { id: 'h2', name: 'bob', level: 2, email: 'bob@hostile.example' },
  { id: 'h3', name: 'cy', level: 3, email: null },
];

/**
 * Hostile input: every input gets its typed error (or, where the input is legal, a correct answer)
 * and leaves L2 (every key under this file's prefix, with its value) and L3 (every row) as they were.
 */
describe('hostile input', () => {
  let stack: TierStack;
  let strata: Strata;
  const opened: Strata[] = [];
  const tally = { inputsTried: 0, operations: 0, hangs: 0 };
  const schema = () => stack.schemaOf({ name: 'hostile' });
  /** What bus and queue messages name a schema by: its qualified table. */
  const identity = () => `${stack.name}.accounts`;

  beforeAll(async () => {
    stack = await tierStack('hostile');
    strata = stack.strata({ schemas: [schema()], encryptionKey: KEY, coherence: { bus: stack.bus() } });
    opened.push(strata);
    await strata.setMany('hostile', SEED);
    await strata.getMany('hostile', ['h1', 'h2', 'h3']);
  });
  afterAll(async () => {
    await Promise.allSettled(opened.map((s) => s.close()));
    await stack?.cleanup();
    record({
      category: 'hostile-input',
      scenario: 'queries, ids, values, messages, keys, configs',
      ...tally,
    });
  });

  /** Like `refused` without the snapshots (the caller snapshots around a whole loop). */
  async function typed(code: StrataErrorCode | null, attempt: () => Promise<unknown>, label: string) {
    tally.inputsTried += 1;
    tally.operations += 1;
    let error: unknown;
    try {
      await bounded(Promise.resolve().then(attempt), 10_000, tally);
    } catch (err) {
      error = err;
    }
    if (code === null) expect(error, label).toBeUndefined();
    else expect(isStrataError(error, code), `${label}: expected ${code}, got ${String(error)}`).toBe(true);
  }

  /** Runs `attempt`; it must fail with `code` (or settle when code is null) and change no tier. */
  async function refused(code: StrataErrorCode | null, attempt: () => Promise<unknown>, label: string) {
    const l2 = await stack.l2Snapshot();
    const l3 = await stack.l3Snapshot();
    tally.inputsTried += 1;
    tally.operations += 1;
    let error: unknown;
    try {
      await bounded(Promise.resolve().then(attempt), 10_000, tally);
    } catch (err) {
      error = err;
    }
    if (code === null) expect(error, label).toBeUndefined();
    else expect(isStrataError(error, code), `${label}: expected ${code}, got ${String(error)}`).toBe(true);
    expect(await stack.l2Snapshot(), `${label}: L2 changed`).toEqual(l2);
    expect(await stack.l3Snapshot(), `${label}: L3 changed`).toEqual(l3);
  }

  it('the injection corpus in every query field: refused, or a bound parameter that matches nothing', async () => {
    const l2 = await stack.l2Snapshot();
    const l3 = await stack.l3Snapshot();
    for (const value of INJECTION_CORPUS) {
      const label = JSON.stringify(value);
      await typed(
        'INVALID_QUERY',
        () => strata.search('hostile', Q().orderBy(value).build()),
        `orderBy ${label}`,
      );
      await typed(
        'INVALID_QUERY',
        () => strata.search('hostile', Q().fields('id', value).build()),
        `fields ${label}`,
      );
      await typed(
        'INVALID_QUERY',
        () => strata.searchCached('hostile', Q().orderBy(value).build()),
        `cached orderBy ${label}`,
      );
      await typed(
        'INVALID_QUERY',
        () => strata.count('hostile', Q().orderBy(value).build()),
        `count orderBy ${label}`,
      );
      // As a where argument it is data: nothing matches (Postgres refuses U+0000 in text: a data
      // error in the query's argument, so INVALID_QUERY).
      const nul = value.includes('\u0000');
      await typed(
        nul ? 'INVALID_QUERY' : null,
        async () => {
          expect(await strata.search('hostile', Q().where('name = $1', value).build())).toEqual([]);
          expect(await strata.count('hostile', Q().where('email = $1 OR name = $1', value).build())).toBe(0);
        },
        `where arg ${label}`,
      );
    }
    for (const text of WHERE_TEXT_INJECTION_CORPUS) {
      await typed(
        'INVALID_QUERY',
        () => strata.search('hostile', Q().where(text).build()),
        `where ${JSON.stringify(text)}`,
      );
      await typed(
        'INVALID_QUERY',
        () => strata.searchCached('hostile', Q().where(text).build()),
        `cached where ${JSON.stringify(text)}`,
      );
    }
    for (const limit of [-1, 1e9, Number.NaN, 1.5]) {
      await typed(
        'INVALID_QUERY',
        () => strata.search('hostile', Q().limit(limit).build()),
        `limit ${limit}`,
      );
    }
    expect(await stack.l2Snapshot(), 'L2 changed').toEqual(l2);
    expect(await stack.l3Snapshot(), 'L3 changed').toEqual(l3);
  });

  it('bad rows and ids: typed errors, nothing written anywhere', async () => {
    const bad: [StrataErrorCode, unknown][] = [
      ['VALIDATION_FAILED', { id: 'v1', name: 'x', level: 'nine' }],
      ['VALIDATION_FAILED', { id: 'v1', name: 'x', level: 2 ** 40 }],
      ['VALIDATION_FAILED', { id: 'v1', level: 1 }],
      ['VALIDATION_FAILED', { id: 'v1', name: 'x', unknownColumn: 1 }],
      ['VALIDATION_FAILED', { id: 'v1', name: 'x', email: 42 }],
      ['VALIDATION_FAILED', { id: 'v1', name: "x'); DROP TABLE accounts; --", level: '1; DROP' }],
      ['VALIDATION_FAILED', null],
      ['VALIDATION_FAILED', 'a string'],
      ['VALIDATION_FAILED', [{ id: 'v1', name: 'x' }]],
      ['MISSING_PRIMARY_KEY', { name: 'x' }],
      ['MISSING_PRIMARY_KEY', { id: '', name: 'x' }],
      ['MISSING_PRIMARY_KEY', { id: { toString: () => 'h1' }, name: 'x' }],
      ['MISSING_PRIMARY_KEY', { id: null, name: 'x' }],
      ['VALIDATION_FAILED', { id: 'v1', name: 'x', email: 'lone \uD800 surrogate' }],
      ['VALIDATION_FAILED', { id: 'v1', name: 'lone \uDC00 surrogate' }],
      ['MISSING_PRIMARY_KEY', { id: 'v1\uD800', name: 'x' }],
      ['MISSING_PRIMARY_KEY', { id: 'x'.repeat(513), name: 'x' }],
    ];
    for (const [code, row] of bad) {
      const label = JSON.stringify(row) ?? String(row);
      await refused(code, () => strata.set('hostile', row as never), `set ${label}`);
      // One bad row in a batch: none of the batch is written.
      await refused(
        code,
        () => strata.setMany('hostile', [{ id: 'ok1', name: 'fine' }, row] as never),
        `setMany ${label}`,
      );
      await refused(
        'TX_FAILED',
        () =>
          strata
            .tx()
            .set('hostile', { id: 'ok2', name: 'fine' })
            .set('hostile', row as never)
            .commit(),
        `tx ${label}`,
      );
    }
    // A unique violation in Postgres (name is not unique here: id clash in a batch is the last-wins rule).
    // (A number is a valid id of a text key: 42 reads row '42', as ids arrive from URLs.)
    // Lone surrogates would collide in UTF-8 (both become U+FFFD); ids are at most 512 bytes.
    for (const id of [
      '',
      null,
      undefined,
      {},
      [],
      () => 'h1',
      Symbol('h1'),
      'h\uD800',
      'h\uDC00',
      'é'.repeat(257),
    ]) {
      const label = `id ${String(id)}`;
      await refused('MISSING_PRIMARY_KEY', () => strata.get('hostile', id as never), `get ${label}`);
      await refused('MISSING_PRIMARY_KEY', () => strata.delete('hostile', id as never), `delete ${label}`);
      await refused(
        'MISSING_PRIMARY_KEY',
        () => strata.invalidate('hostile', id as never),
        `invalidate ${label}`,
      );
      await refused(
        'MISSING_PRIMARY_KEY',
        () => strata.getMany('hostile', ['h1', id] as never),
        `getMany ${label}`,
      );
    }
    await refused('SCHEMA_NOT_FOUND', () => strata.get('nope', 'h1'), 'unknown schema get');
    await refused('SCHEMA_NOT_FOUND', () => strata.set('nope', { id: 'x' }), 'unknown schema set');
    await refused(
      'SCHEMA_NOT_FOUND',
      () => strata.invalidateAll("hostile'; --"),
      'unknown schema invalidateAll',
    );
    await refused('NOT_FOUND', () => strata.get('hostile', 'absent'), 'absent id');
  });

  it('ids with separators, unicode and odd lengths: stored, read back, and kept apart', async () => {
    const ids = [
      'a:b',
      'a',
      'a:g0:b',
      '*',
      'h1*',
      '../h1',
      'line\nbreak',
      'tab\tand space ',
      'Zoë 🎉 日本',
      '\u200b',
      '%00',
      "'; DROP TABLE accounts; --",
      'x'.repeat(512),
      'é'.repeat(256), // 512 bytes of UTF-8: the longest id
    ];
    for (const [i, id] of ids.entries()) {
      await strata.set('hostile', { id, name: `n${i}`, level: i, email: `${i}@ids.example` });
    }
    const reader = stack.strata({ schemas: [schema()], encryptionKey: KEY });
    opened.push(reader);
    const rows = await reader.getMany('hostile', ids);
    rows.forEach((row, i) => {
      expect([row?.id, row?.level], JSON.stringify(ids[i])).toEqual([ids[i], i]);
    });
    // Invalidating or deleting one never touches a look-alike (no globbing, no prefix match).
    await strata.invalidate('hostile', '*');
    await strata.delete('hostile', 'a');
    const after = await stack.strata({ schemas: [schema()], encryptionKey: KEY }).getMany('hostile', ids);
    after.forEach((row, i) => {
      expect(row?.id ?? null).toBe(ids[i] === 'a' ? null : ids[i]);
    });
    expect((await reader.get('hostile', 'h1')).name).toBe('ada');
    tally.inputsTried += ids.length;
    tally.operations += ids.length * 3;
    await strata.deleteMany('hostile', ids);
  });

  it('a value too large for a sane L2 entry (8 MB) is stored, read back, and breaks nothing', async () => {
    const big = 'β'.repeat(4 * 1024 * 1024); // 8 MB of UTF-8
    await strata.set('hostile', { id: 'big', name: 'big', note: big, email: 'big@hostile.example' });
    const fresh = stack.strata({ schemas: [schema()], encryptionKey: KEY });
    opened.push(fresh);
    expect((await fresh.get('hostile', 'big')).note).toBe(big);
    expect((await fresh.get('hostile', 'h2')).email).toBe('bob@hostile.example');
    await strata.delete('hostile', 'big');
    tally.inputsTried += 1;
    tally.operations += 4;
  });

  it('a wrong key, tampered ciphertext in L3 or L2: DECODE_FAILED, no tier changed, no garbage', async () => {
    const wrong = stack.strata({ schemas: [schema()], encryptionKey: testKey(12) });
    opened.push(wrong);
    await refused('DECODE_FAILED', () => wrong.get('hostile', 'h1'), 'wrong key, L2 hit');
    // Tampered in Postgres: the row is read from L3 (L2 dropped first) and refused, nothing cached.
    await strata.set('hostile', { id: 't1', name: 't', email: 'tamper@hostile.example' });
    await strata.invalidate('hostile', 't1');
    await stack.pool.query(
      `update "${stack.name}"."accounts" set email = overlay(email placing (case when substr(email, 20, 1) = 'A' then 'B' else 'A' end) from 20 for 1) where id = 't1'`,
    );
    const cold = () => {
      const s = stack.strata({ schemas: [schema()], encryptionKey: KEY });
      opened.push(s);
      return s;
    };
    await refused('DECODE_FAILED', () => cold().get('hostile', 't1'), 'tampered in L3');
    // Moved from another row: the ciphertext is bound to its row and field.
    await stack.pool.query(
      `update "${stack.name}"."accounts" set email = (select email from "${stack.name}"."accounts" where id = 'h1') where id = 't1'`,
    );
    await refused('DECODE_FAILED', () => cold().get('hostile', 't1'), 'ciphertext copied from another row');
    // Tampered in L2.
    const keys = Object.keys(await stack.l2Snapshot()).filter((k) => k.endsWith(':h2'));
    expect(keys.length).toBeGreaterThan(0);
    const intact = new Map<string, string>();
    for (const k of keys) {
      const value = (await stack.redis.get(k))!;
      intact.set(k, decodeEnvelope(value)!.payload);
      await stack.redis.set(
        k,
        value.replace(/("email":"v2\.k0\.)(.)/, (_, p, c) => `${p}${c === 'A' ? 'B' : 'A'}`),
        'KEEPTTL',
      );
    }
    // get falls back to Postgres (which holds the intact value); its fill, of the same version,
    // repairs L2 with what Postgres holds. Postgres itself is left alone.
    const l3 = await stack.l3Snapshot();
    expect((await cold().get('hostile', 'h2')).email).toBe('bob@hostile.example');
    for (const [k, payload] of intact)
      expect(decodeEnvelope((await stack.redis.get(k))!)?.payload).toBe(payload);
    expect(await stack.l3Snapshot()).toEqual(l3);
    tally.inputsTried += 1;
    tally.operations += 1;
    await strata.invalidate('hostile', 'h2');
    await strata.delete('hostile', 't1');
  });

  it('malformed invalidation messages are dropped; a valid one after them still applies', async () => {
    const receiver = stack.strata({
      schemas: [schema()],
      encryptionKey: KEY,
      coherence: { bus: stack.bus() },
    });
    opened.push(receiver);
    await receiver.get('hostile', 'h1');
    const applied = receiver.stats().invalidationsApplied;
    const junk = [
      '',
      'not json',
      '{}',
      'null',
      '[]',
      JSON.stringify({ schema: identity(), ids: 'h1', op: 'set', origin: 'x' }),
      JSON.stringify({ schema: identity(), ids: [1, 2], op: 'set', origin: 'x' }),
      JSON.stringify({ schema: identity(), ids: ['h1'], op: 'explode', origin: 'x' }),
      JSON.stringify({ schema: identity(), ids: ['x'.repeat(100_000)], op: 'set', origin: 'x' }),
      JSON.stringify({
        schema: identity(),
        ids: Array.from({ length: 100_000 }, (_, i) => `i${i}`),
        op: 'set',
        origin: 'x',
      }),
      JSON.stringify({ schema: { $gt: '' }, ids: null, op: 'invalidateAll', origin: 'x' }),
      `{"schema":"${identity()}","ids":["h1"],"op":"set","origin":"x","__proto__":{"polluted":1}}`,
      '\u0000\uffff',
      'x'.repeat(1_000_000),
    ];
    const l2 = await stack.l2Snapshot();
    for (const message of junk) await stack.redis.publish(stack.channel, message);
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(receiver.stats().invalidationsApplied).toBe(applied);
    expect(({} as { polluted?: unknown }).polluted).toBeUndefined();
    const hits = receiver.stats().hits.l1;
    await receiver.get('hostile', 'h1'); // still in L1: nothing was dropped
    expect(receiver.stats().hits.l1).toBe(hits + 1);
    await stack.redis.publish(
      stack.channel,
      encodeInvalidation({ schema: identity(), ids: ['h1'], op: 'set', origin: 'other' }),
    );
    await vi.waitFor(() => expect(receiver.stats().invalidationsApplied).toBe(applied + 1));
    expect(await stack.l2Snapshot()).toEqual(l2);
    tally.inputsTried += junk.length;
    tally.operations += junk.length + 1;
  });

  it('malformed queue messages: typed errors on decode, dead-lettered on flush, nothing applied', async () => {
    const wire = [
      '',
      'null',
      '{}',
      '{"schema":"hostile","id":"h1","op":"set","version":1}',
      '{"schema":"hostile","id":"h1","op":"drop","version":1}',
      '{"schema":"hostile","id":"h1","op":"delete","version":"1"}',
      'x'.repeat(100_000),
    ];
    for (const text of wire) {
      tally.inputsTried += 1;
      let error: unknown;
      try {
        decodeQueuedWrite(text);
      } catch (err) {
        error = err;
      }
      expect(isStrataError(error), `decode ${text.slice(0, 60)}`).toBe(true);
    }
    const deliveries: Delivery[] = [
      { handle: 'd1', attempts: 0, write: { schema: 'nope', id: 'h1', op: 'delete', version: 1 } },
      {
        handle: 'd2',
        attempts: 0,
        write: { schema: identity(), id: 'h1', op: 'set', row: 'not json', version: 2 },
      },
      { handle: 'd4', attempts: 0, write: { schema: identity(), id: 'h1', op: 'set', version: 4 } },
    ];
    const l2 = await stack.l2Snapshot();
    const l3 = await stack.l3Snapshot();
    const outcome = await bounded(strata.flushBatch(deliveries), 10_000, tally);
    expect(outcome.acked).toEqual([]);
    expect(await stack.l3Snapshot()).toEqual(l3);
    expect(await stack.l2Snapshot()).toEqual(l2);
    tally.inputsTried += deliveries.length;
    tally.operations += 1;
  });

  // A bug this suite found (fixed): a decrypt failure of an L2 value left the key in neither map,
  // so getMany answered null for a row that exists.
  it('getMany with an undecryptable L2 value answers the row from L3 or throws, never null', async () => {
    await strata.set('hostile', { id: 'g1', name: 'g', email: 'g1@hostile.example' });
    for (const k of Object.keys(await stack.l2Snapshot()).filter((key) => key.endsWith(':g1'))) {
      const value = (await stack.redis.get(k))!;
      await stack.redis.set(
        k,
        value.replace(/("email":"v2\.k0\.)(.)/, (_, p, c) => `${p}${c === 'A' ? 'B' : 'A'}`),
        'KEEPTTL',
      );
    }
    const cold = stack.strata({ schemas: [schema()], encryptionKey: KEY });
    opened.push(cold);
    tally.inputsTried += 1;
    const outcome = await cold.getMany('hostile', ['g1']).then(
      (rows) => rows[0]?.email,
      (err: unknown) => (isStrataError(err, 'DECODE_FAILED') ? 'DECODE_FAILED' : String(err)),
    );
    await strata.delete('hostile', 'g1');
    expect(['g1@hostile.example', 'DECODE_FAILED']).toContain(outcome);
  });

  // A bug this suite found (fixed): the flusher trusted the row of a queued write, so a message
  // whose row's key differs from its id overwrote that other row.
  it('a queued write whose row names another id is dead-lettered and changes no row', async () => {
    const l3 = await stack.l3Snapshot();
    tally.inputsTried += 1;
    const outcome = await strata.flushBatch([
      {
        handle: 'd3',
        attempts: 0,
        write: {
          schema: identity(),
          id: 'h1',
          op: 'set',
          row: '{"id":"h2","name":"swap","level":2}',
          version: 3,
        },
      },
    ]);
    const after = await stack.l3Snapshot();
    if (JSON.stringify(after) !== JSON.stringify(l3)) await strata.set('hostile', SEED[1]!); // restore h2
    expect(after).toEqual(l3);
    expect(outcome.acked).toEqual([]);
  });

  it('invalid configs: INVALID_CONFIG naming the field, before any tier is touched', async () => {
    const configs: [string, Record<string, unknown>][] = [
      ['keyPrefix', { keyPrefix: 'bad prefix *' }],
      ['unknown', { bogus: true }],
      ['ttl.l1', { ttl: { l1: 'soon' } }],
      ['defaultL1Ttl', { defaultL1Ttl: '1m' }],
      ['l1.maxEntries', { l1: { maxEntries: -1 } }],
      ['timeouts.l2', { timeouts: { l2: '-5s' } }],
      ['encryptionKey', { encryptionKey: 'too short' }],
      ['encryptionKey', { encryptionKey: { keys: { a: KEY }, current: 'b' } }],
      ['encryptionKey', { encryptionKey: { keys: { 'bad.id': KEY }, current: 'bad.id' } }],
      ['l3', { l3: { findMany: 1 } }],
      ['coherence.bus', { coherence: { bus: {} } }],
      ['schemas', { schemas: [{}] }],
      [
        'writeMode',
        { schemas: [stack.schemaOf({ name: 'wb', writeMode: 'write-behind' })], encryptionKey: KEY },
      ],
      ['encrypted without key', { schemas: [schema()] }],
    ];
    for (const [label, config] of configs) {
      await refused(
        'INVALID_CONFIG',
        async () =>
          new StrataClass({ l2: stack.l2(), l3: stack.l3, keyPrefix: stack.name, ...config } as never),
        `config ${label}`,
      );
    }
  });
});
