import type { Encryptor } from '../crypto/types.js';
import { isStrataError, StrataError } from '../errors.js';
import type { Row, ValueReplacement } from '../l3/types.js';
import { adminOperation } from './admin-op.js';
import type { AnySchema } from './call-types.js';
import type { Coherence } from './coherence.js';
import type { EngineContext } from './context.js';
import { type Id, idKey } from './ids.js';
import type { SchemaCache } from './schema-cache.js';
import type { Strata } from './strata.js';
import { outcomeUnknown } from './unknown-outcome.js';

/**
 * Options of `reencrypt` (`@strata/core/admin`).
 * @example await reencrypt(strata, userSchema, { batchSize: 200, onProgress: (p) => console.log(p.scanned) });
 */
export interface ReencryptOptions {
  /** Rows read per page (one L3 query, at most one UPDATE transaction, one L2 request). Default 500. */
  batchSize?: number;
  /** Called after each page with the running totals. */
  onProgress?: (progress: ReencryptResult) => void;
}

/**
 * What `reencrypt` (`@strata/core/admin`) did: rows read, and rows whose encrypted fields it moved to the current key
 * (and from the legacy binding, `v1.`, to the unambiguous one).
 * @example const { scanned, reencrypted } = await reencrypt(strata, userSchema);
 */
export interface ReencryptResult {
  scanned: number;
  reencrypted: number;
}

const DEFAULT_BATCH_SIZE = 500;
const MAX_BATCH_SIZE = 10_000;

/**
 * Key rotation: re-encrypts, under the current key, the encrypted fields of the schema's L3 rows
 * still written under an older one or with the legacy binding (compare-and-set UPDATEs, no hooks,
 * no write-behind), then drops their cached copies everywhere. Resolves `{ scanned, reencrypted }`;
 * see `reencryptRows` for how. Once it resolves, every row it scanned is under the current key and
 * binding; rows written meanwhile by an instance still configured with an old `current` are not.
 * Run it again after every instance runs the new keyring; then the old key can be removed. A
 * legacy (`v1.`) value is bound anew where it is found, so trusted as a read under
 * `encryption.legacy: 'accept'` trusts it. Rejects with INVALID_CONFIG for a bad `batchSize`,
 * L3_UNAVAILABLE without an L3, UNAVAILABLE once the instance is closed, DECODE_FAILED for a row it
 * cannot decrypt (a legacy value under `encryption.legacy: 'refuse'`: its page is left as it was).
 * An admin operation, in `@strata/core/admin` so that a Worker that never calls it does not bundle it.
 * @example
 * import { reencrypt } from '@strata/core/admin';
 * const strata = new Strata({ l2, l3, schemas: [users], encryptionKey: { keys: { k1, k2 }, current: 'k2' } });
 * const { scanned, reencrypted } = await reencrypt(strata, users, {
 *   batchSize: 200,
 *   onProgress: (p) => console.log(`${p.reencrypted}/${p.scanned}`),
 * });
 */
export function reencrypt(
  strata: Strata,
  schema: AnySchema,
  options?: ReencryptOptions,
): Promise<ReencryptResult> {
  const attributes = { 'strata.schema': typeof schema === 'string' ? schema : String(schema?.name) };
  return adminOperation(strata, 'reencrypt', attributes, ({ engine, runtime }) =>
    reencryptRows(engine.ctx, runtime(schema), engine.coherence, options),
  );
}

/**
 * Key rotation's second half: pages through the schema's L3 rows by primary key and re-encrypts,
 * under the keyring's current key, every encrypted field the encryptor says needs it (written
 * under another key, or a legacy `v1.` value: it gets the unambiguous binding). Each
 * page's changes are one transaction of plain UPDATEs of just those columns, each guarded by the
 * old ciphertext (compare-and-set), so a row written meanwhile is left as its writer stored it. No
 * hooks, no autoNow, no write-behind queue, no version: the values mean the same, only their key
 * changed. Then the changed ids leave L1 (here and, through the bus, on the other instances) and
 * L2 (where the cached copy still carries an old key id), fenced like a write, and cached search
 * lists are dropped (search generation), so no cache keeps serving the old ciphertext.
 */
export async function reencryptRows(
  ctx: EngineContext,
  rt: SchemaCache,
  coherence: Coherence,
  options: ReencryptOptions = {},
): Promise<ReencryptResult> {
  const name = rt.schema.name;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new StrataError(
      'INVALID_CONFIG',
      `reencrypt: batchSize must be an integer from 1 to ${MAX_BATCH_SIZE}`,
      {
        details: { schema: name, field: 'batchSize' },
      },
    );
  }
  const result: ReencryptResult = { scanned: 0, reencrypted: 0 };
  const fields = rt.schema.encryptedKeys;
  if (fields.length === 0 || !rt.rows.encryptor) return result;
  const l3 = rt.l3;
  if (!l3) {
    throw new StrataError('L3_UNAVAILABLE', `schema ${name} has no L3: reencrypt works on L3 rows`, {
      details: { schema: name },
    });
  }
  const encryptor = await rt.rows.encryptor;
  const pk = rt.schema.primaryKey.key;
  let after: unknown;
  for (;;) {
    const page = await l3
      .scan(rt.schema, { limit: batchSize, ...(after === undefined ? {} : { after }) })
      .catch((err: unknown) => {
        throw ctx.l3Error(name, 'reencrypt', err);
      });
    if (page.length === 0) break;
    after = page[page.length - 1]!.row[pk];
    result.scanned += page.length;
    const changes: ValueReplacement[] = [];
    const versions = new Map<string, number>();
    for (const { row: stored, version } of page) {
      const change = await reencryptRow(rt, encryptor, stored);
      if (!change) continue;
      changes.push(change);
      versions.set(idKey(change.id as Id), version);
    }
    if (changes.length > 0) result.reencrypted += await applyPage(ctx, rt, coherence, changes, versions);
    options.onProgress?.({ ...result });
    if (page.length < batchSize) break;
  }
  ctx.config.logger.info('reencrypt finished', { schema: name, keyId: encryptor.currentKeyId, ...result });
  return result;
}

/** The fields of one stored row to move to the current key (and binding), or undefined when it has none. */
async function reencryptRow(
  rt: SchemaCache,
  encryptor: Encryptor,
  stored: Row,
): Promise<ValueReplacement | undefined> {
  const id = stored[rt.schema.primaryKey.key] as Id;
  const key = idKey(id);
  const old: Row = {};
  try {
    for (const field of rt.schema.encryptedKeys) {
      const value = stored[field];
      if (typeof value === 'string' && encryptor.needsReencrypt(value)) old[field] = value;
    }
    if (Object.keys(old).length === 0) return undefined;
    // The row codec decrypts and encrypts with the aad that binds each value to its row and field.
    const fresh = await rt.rows.encryptRow(await rt.rows.decryptRow(old, key), key);
    const set: Row = {};
    for (const field of Object.keys(old)) set[field] = fresh[field];
    return { id, expect: old, set };
  } catch (err) {
    const code = isStrataError(err) ? err.code : 'DECODE_FAILED';
    throw new StrataError(code, `reencrypt: schema ${rt.schema.name}: row ${key} cannot be re-encrypted`, {
      cause: err,
      details: { schema: rt.schema.name, id: key },
    });
  }
}

/**
 * One page: the compare-and-set UPDATEs in one transaction, then the changed rows' cached copies go
 * where they are the version that was re-encrypted (or older); a newer write's copy (a write-behind
 * row not flushed yet, say) stays, so readers keep seeing it.
 */
async function applyPage(
  ctx: EngineContext,
  rt: SchemaCache,
  coherence: Coherence,
  changes: readonly ValueReplacement[],
  versions: ReadonlyMap<string, number>,
): Promise<number> {
  const name = rt.schema.name;
  const keys = changes.map((c) => idKey(c.id as Id));
  let changed: string[];
  rt.beginWrite(keys);
  try {
    try {
      changed = (await rt.l3!.replaceValues(rt.schema, changes)).map((id) => idKey(id as Id));
    } catch (err) {
      // Its outcome unknown (a cut reply, a timeout: the UPDATE may have committed), the page's
      // copies go all the same: a run after it finds those rows moved and would drop none of them.
      if (outcomeUnknown(err)) {
        const upTo = keys.map((key) => versions.get(key) ?? 0);
        await rt.drop(ctx, keys, upTo);
        await coherence.publish(rt, keys, upTo, 'invalidate');
      }
      throw ctx.l3Error(name, 'reencrypt', err);
    }
    const upTo = changed.map((key) => versions.get(key) ?? 0);
    await rt.drop(ctx, changed, upTo);
    await coherence.publish(rt, changed, upTo, 'invalidate');
  } finally {
    rt.endWrite(keys);
  }
  return changed.length;
}
