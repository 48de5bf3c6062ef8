// One side of a write-behind A/B bench (wb-replay.mjs, wb-hops.mjs): a Strata of one build whose one
// schema writes behind to a Redis Stream queue on its ioredis L2's Redis, one set at a time.
import { playerTable } from './stack.mjs';

/**
 * A side named `label` of build `{ core, drizzle, tcp }`, under `<stack.name>-<tag>-<label>`: the
 * branch side writes the stack's player table, any other a table of its own (one app owns a
 * table's write-behind versions). `wrapL2` wraps its ioredis L2, `extra` is added to its config.
 * @example const side = writeBehindSide(stack, 'wbhops', 'branch', { core, drizzle, tcp }); await side.strata.migrate();
 */
export function writeBehindSide(
  stack,
  tag,
  label,
  { core, drizzle, tcp },
  { wrapL2 = (l2) => l2, extra = {} } = {},
) {
  const keyPrefix = `${stack.name}-${tag}-${label}`;
  const stream = `${stack.name}:${tag}-${label}:writes`;
  const queue = tcp.createRedisStreamQueue({
    url: stack.urls.redisUrl,
    keyPrefix,
    stream,
    allowVolatile: true,
  });
  const table = label === 'branch' ? stack.players : playerTable(stack.name, `players_${label}`);
  const schema = core.defineSchema({ table, writeMode: 'write-behind' });
  const strata = new core.Strata({
    l2: wrapL2(tcp.createIoredisL2(stack.urls.redisUrl)),
    l3: drizzle.createDrizzleL3(stack.db, { migrationsSchema: stack.name }),
    keyPrefix,
    l1: { maxEntries: 200_000 },
    schemas: [schema],
    writeBehind: { queue, threshold: 1_000_000 },
    ...extra,
  });
  return { label, strata, schema, stream };
}
