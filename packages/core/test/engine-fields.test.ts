import { eq, sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { QueuedWrite } from '../src/driver.js';
import { createMemoryQueue, defineSchema, isStrataError, Strata, type StrataError } from '../src/index.js';
import { type EngineStack, engineStack } from './support/stack.js';

let stack: EngineStack;
const KEY = '0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef';
const SECRET = 'sk_live_do-not-leak-42';

function schemaWithOptions() {
  return defineSchema({
    table: stack.tables.players,
    fields: {
      apiKey: { encrypted: true },
      passwordHash: { omitCache: true },
      notes: { omitL1: true },
      updatedAt: { autoNow: true },
    },
  });
}

const strataFor = (schema: ReturnType<typeof schemaWithOptions>, keyPrefix = stack.keyPrefix) =>
  new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix, encryptionKey: KEY, schemas: [schema] });

beforeAll(async () => {
  stack = await engineStack('engine_fields');
  await strataFor(schemaWithOptions()).migrate();
});
afterAll(() => stack?.cleanup());

describe('omitCache, omitL1 and encrypted fields', () => {
  it('refuses encrypted fields without a key, naming the option to pass (no environment variable is read here)', () => {
    let caught: unknown;
    try {
      new Strata({ l2: stack.l2, l3: stack.l3, keyPrefix: stack.keyPrefix, schemas: [schemaWithOptions()] });
    } catch (err) {
      caught = err;
    }
    expect(isStrataError(caught, 'INVALID_CONFIG')).toBe(true);
    expect((caught as StrataError).details).toMatchObject({ field: 'encryptionKey' });
    expect((caught as Error).message).toContain('`encryptionKey` option');
    expect((caught as Error).message).not.toContain('STRATA_ENCRYPTION_KEY');
  });

  it('keeps ciphertext in Postgres and L2, plaintext only in the caller and L1', async () => {
    const schema = schemaWithOptions();
    const strata = strataFor(schema);
    await strata.set(schema, {
      id: 'f1',
      username: 'enc',
      apiKey: SECRET,
      passwordHash: 'hash!',
      notes: 'n',
    });

    const [raw] = await stack.db
      .execute<{ api_key: string }>(sql`select api_key from ${stack.tables.players} where id = 'f1'`)
      .then((r) => r.rows);
    expect(raw?.api_key).toMatch(/^v2\.k0\./);
    expect(raw?.api_key).not.toContain(SECRET);

    const l2Keys = (await stack.rawL2Keys()).filter((k) => k.endsWith(':f1'));
    expect(l2Keys).toHaveLength(1);
    const l2Value = (await stack.redis.get(l2Keys[0]!))!;
    expect(l2Value).not.toContain(SECRET);
    expect(l2Value).toContain('v2.k0.');
    expect(l2Value).not.toContain('hash!');

    expect((await strata.get(schema, 'f1')).apiKey).toBe(SECRET);
    expect((await strataFor(schema).get(schema, 'f1')).apiKey).toBe(SECRET);
  });

  it('omitCache fields are absent from cached reads and completed from L3 on request', async () => {
    const schema = schemaWithOptions();
    const strata = strataFor(schema);
    await strata.set(schema, { id: 'f2', username: 'omit', passwordHash: 'hash!' });
    const cached = await strata.get(schema, 'f2');
    expect('passwordHash' in cached).toBe(false);
    const complete = await strata.get(schema, 'f2', { complete: true });
    expect(complete.passwordHash).toBe('hash!');
  });

  it('omitL1 fields never sit in L1: gets complete them from L2', async () => {
    const schema = schemaWithOptions();
    const strata = strataFor(schema);
    await strata.set(schema, { id: 'f3', username: 'notes', notes: 'kept in L2' });
    stack.reset();
    expect((await strata.get(schema, 'f3')).notes).toBe('kept in L2');
    expect(strata.stats().hits.l2).toBe(1);
    expect(stack.statementsOn('players')).toHaveLength(0);
  });

  it('write-behind: the queue carries ciphertext and the omitCache field; L1 plaintext, L2 neither; the flush lands both', async () => {
    const schema = defineSchema({
      table: stack.tables.players,
      writeMode: 'write-behind',
      fields: { apiKey: { encrypted: true }, passwordHash: { omitCache: true } },
    });
    const queued: QueuedWrite[] = [];
    const queue = createMemoryQueue();
    const enqueue = queue.enqueue.bind(queue);
    queue.enqueue = (writes) => {
      queued.push(...writes);
      return enqueue(writes);
    };
    const strata = new Strata({
      l2: stack.l2,
      l3: stack.l3,
      keyPrefix: stack.keyPrefix,
      encryptionKey: KEY,
      schemas: [schema],
      writeBehind: { queue, threshold: 1_000_000 },
    });
    await strata.set(schema, { id: 'f9', username: 'behind', apiKey: SECRET, passwordHash: 'hash!' });
    // The queued row is every column (the omitCache one too: Postgres needs it), encrypted.
    expect(queued).toHaveLength(1);
    expect(queued[0]!.row).toContain('hash!');
    expect(queued[0]!.row).toContain('v2.k0.');
    expect(queued[0]!.row).not.toContain(SECRET);
    const l2Key = (await stack.rawL2Keys()).find((k) => k.endsWith(':f9'))!;
    const l2Value = (await stack.redis.get(l2Key))!;
    expect(l2Value).not.toContain('hash!');
    expect(l2Value).not.toContain(SECRET);
    stack.reset();
    const cached = await strata.get(schema, 'f9');
    expect(stack.statementsOn('players')).toHaveLength(0);
    expect(cached.apiKey).toBe(SECRET);
    expect('passwordHash' in cached).toBe(false);
    await strata.flushDirty();
    const [raw] = await stack.db
      .execute<{ api_key: string; password_hash: string }>(
        sql`select api_key, password_hash from ${stack.tables.players} where id = 'f9'`,
      )
      .then((r) => r.rows);
    expect(raw?.password_hash).toBe('hash!');
    expect(raw?.api_key).toMatch(/^v2\.k0\./);
    expect((await strata.get(schema, 'f9', { complete: true })).apiKey).toBe(SECRET);
    await strata.close();
  });

  it('autoNow stamps every write', async () => {
    const schema = schemaWithOptions();
    const strata = strataFor(schema);
    const first = await strata.set(schema, { id: 'f4', username: 'stamp' });
    expect(first.updatedAt).toBeInstanceOf(Date);
  });

  it('DECODE_FAILED for tampered ciphertext; nothing cached from it', async () => {
    const schema = schemaWithOptions();
    await strataFor(schema).set(schema, { id: 'f5', username: 'tamper', apiKey: SECRET });
    const [row] = await stack.db
      .select({ apiKey: stack.tables.players.apiKey })
      .from(stack.tables.players)
      .where(eq(stack.tables.players.id, 'f5'));
    const ct = row!.apiKey!;
    const flipped = ct.slice(0, -2) + (ct.at(-2) === 'A' ? 'B' : 'A') + ct.at(-1);
    await stack.db
      .update(stack.tables.players)
      .set({ apiKey: flipped })
      .where(eq(stack.tables.players.id, 'f5'));
    const fresh = strataFor(schema, `${stack.keyPrefix}tamper`);
    const err = await fresh.get(schema, 'f5').catch((e: unknown) => e);
    expect(isStrataError(err, 'DECODE_FAILED')).toBe(true);
    expect(String(err)).not.toContain(SECRET);
    expect(fresh.stats().l1Entries).toBe(0);
  });

  it('an L2 copy whose ciphertext does not decrypt is a counted miss: Postgres answers it, L2 the rest', async () => {
    await stack.lapseClaims(); // another app (keyPrefix): the suite's app holds the table write-behind
    const schema = schemaWithOptions();
    const keyPrefix = `${stack.keyPrefix}l2tamper`;
    await strataFor(schema, keyPrefix).setMany(schema, [
      { id: 'f8', username: 'l2tamper8', apiKey: SECRET },
      { id: 'f9', username: 'l2tamper9', apiKey: 'other-secret' },
    ]);
    const [f8Key] = (await stack.redis.keys(`${keyPrefix}:*`)).filter((k) => k.endsWith(':f8'));
    const held = (await stack.redis.get(f8Key!))!;
    const ct = /"apiKey":"(v2\.k0\.[^"]+)"/.exec(held)![1]!;
    const flipped = ct.slice(0, -2) + (ct.at(-2) === 'A' ? 'B' : 'A') + ct.at(-1);
    await stack.redis.set(f8Key!, held.replace(ct, flipped), 'KEEPTTL');

    // A fresh instance (empty L1): f8 from Postgres, f9 from L2, in order.
    const fresh = strataFor(schema, keyPrefix);
    const rows = await fresh.getMany(schema, ['f8', 'f9']);
    expect(rows.map((r) => r?.apiKey)).toEqual([SECRET, 'other-secret']);
    const stats = fresh.stats();
    expect(stats.hits.l2).toBe(1);
    expect(stats.hits.l3).toBe(1);
    expect(stats.errorsBy.l2).toBe(1);
  });

  it('DECODE_FAILED for plain text written from outside names the schema, the field and the row', async () => {
    const schema = schemaWithOptions();
    await strataFor(schema).set(schema, { id: 'f5p', username: 'plain', apiKey: SECRET });
    await stack.db
      .update(stack.tables.players)
      .set({ apiKey: 'written by psql' })
      .where(eq(stack.tables.players.id, 'f5p'));
    const err = await strataFor(schema, `${stack.keyPrefix}plain`)
      .get(schema, 'f5p')
      .catch((e: unknown) => e);
    expect(isStrataError(err, 'DECODE_FAILED')).toBe(true);
    expect((err as StrataError).details).toMatchObject({ schema: schema.name, field: 'apiKey', id: 'f5p' });
    expect((err as StrataError).message).toMatch(/schema \S+: field apiKey of row f5p: cannot decrypt value/);
    expect(String(err)).not.toContain('written by psql');
  });

  it('a ciphertext moved to another row does not decrypt (bound to schema, id and field)', async () => {
    const schema = schemaWithOptions();
    const strata = strataFor(schema);
    await strata.set(schema, { id: 'f6', username: 'a6', apiKey: SECRET });
    await strata.set(schema, { id: 'f7', username: 'a7', apiKey: 'other' });
    const [row] = await stack.db
      .select({ apiKey: stack.tables.players.apiKey })
      .from(stack.tables.players)
      .where(eq(stack.tables.players.id, 'f6'));
    await stack.db
      .update(stack.tables.players)
      .set({ apiKey: row!.apiKey })
      .where(eq(stack.tables.players.id, 'f7'));
    const err = await strataFor(schema, `${stack.keyPrefix}moved`)
      .get(schema, 'f7')
      .catch((e: unknown) => e);
    expect(isStrataError(err, 'DECODE_FAILED')).toBe(true);
  });
});
