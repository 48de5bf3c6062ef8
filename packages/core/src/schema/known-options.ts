import { StrataError } from '../errors.js';

/** The options each part of a schema definition takes (space-separated): any other key is a typo. */
const KNOWN: Readonly<Record<string, string>> = {
  schema: 'table name l1 l2 l3 writeMode fields indexes hooks validate negativeTtl stale grace tags',
  l1: 'ttl maxEntries eviction',
  l2: 'ttl keyPrefix',
  l3: 'readReplica replicaReads partitionBy',
  hooks: 'beforeSet afterSet beforeGet afterGet onEvict onWriteError',
  field: 'omitCache omitL1 encrypted autoNowAdd autoNow',
  index: 'fields unique name',
};

/**
 * Refuses an option `defineSchema` does not know, naming it (INVALID_MODEL, `details.field`): in
 * plain JavaScript a misspelt `writemode: 'write-behind'` would otherwise leave the schema
 * write-through without a word, and `l1: { tll: '5s' }` the default TTL.
 * @example checkKnownOptions('players', { table, writemode: 'write-behind' }); // throws: unknown option writemode
 */
export function checkKnownOptions(schema: string, definition: Readonly<Record<string, unknown>>): void {
  unknownIn(schema, 'schema', '', definition);
  for (const part of ['l1', 'l2', 'l3', 'hooks']) unknownIn(schema, part, `${part}.`, definition[part]);
  const fields = definition.fields;
  if (typeof fields === 'object' && fields !== null)
    for (const [key, options] of Object.entries(fields))
      unknownIn(schema, 'field', `fields.${key}.`, options);
  const indexes = definition.indexes;
  if (Array.isArray(indexes))
    for (const [i, index] of indexes.entries()) unknownIn(schema, 'index', `indexes.${i}.`, index);
}

function unknownIn(schema: string, kind: string, path: string, value: unknown): void {
  if (typeof value !== 'object' || value === null) return;
  const known = KNOWN[kind]!.split(' ');
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    throw new StrataError(
      'INVALID_MODEL',
      `schema ${schema}: unknown option ${path}${key} (known: ${known.join(', ')})`,
      {
        details: { schema, field: `${path}${key}` },
      },
    );
  }
}
