import type { EngineStack } from './stack.js';

/**
 * An update of a `players` row made outside Strata, as change capture sees one: a plain SQL update
 * and the bump of `_strata_versions` in one transaction, as the trigger does. Resolves the key's
 * new version: the one a captured change of it carries (`applyChanges` takes no other).
 */
export async function externalUpdate(
  stack: EngineStack,
  identity: string,
  id: string,
  level: number,
): Promise<number> {
  const client = await stack.pool.connect();
  try {
    await client.query('begin');
    await client.query(`update "${stack.name}".players set level = $1 where id = $2`, [level, id]);
    const { rows } = await client.query(
      `insert into "${stack.name}"._strata_versions (schema, id, version, deleted) values ($1, $2, 1, false)
       on conflict (schema, id) do update set version = "${stack.name}"._strata_versions.version + 1
       returning version`,
      [identity, id],
    );
    await client.query('commit');
    return Number(rows[0].version);
  } catch (err) {
    await client.query('rollback');
    throw err;
  } finally {
    client.release();
  }
}
