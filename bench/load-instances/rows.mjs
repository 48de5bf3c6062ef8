// What the load bench compares between a cache and Postgres: the columns its writes change. Dates
// travel as Date (Strata restores them) or as ISO strings (bentocache's JSON): both compare as ms.

/**
 * `id|level|updatedAt ms`, or `absent` for a missing row.
 * @example canonical({ id: 'lp1', level: 7, updatedAt: new Date(0) }) // 'lp1|7|0'
 */
export function canonical(row) {
  if (row === null || row === undefined) return 'absent';
  const updated =
    row.updatedAt === null || row.updatedAt === undefined ? null : new Date(row.updatedAt).getTime();
  return `${row.id}|${row.level}|${updated}`;
}
