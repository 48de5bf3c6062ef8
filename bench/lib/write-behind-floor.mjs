// The floor of a write-behind `set` whose queue is on the L2's Redis: the row's SET and the queue's
// XADD in one round trip (a raw ioredis MULTI), with the same JSON rows Strata writes.

/**
 * A function that writes `row` as that floor, under `<stack.name>:<label>:…`; `stream` is the
 * stream it adds to (the caller deletes it; the row keys go with the stack's cleanup).
 * @example const { write, stream } = rawWriteBehindSet(stack, 'wm-floor'); await write(row);
 */
export function rawWriteBehindSet(stack, label) {
  const stream = `${stack.name}:${label}:writes`;
  const write = (row) =>
    stack.ioredis
      .multi()
      .set(`${stack.name}:${label}:r:${row.id}`, JSON.stringify(row), 'PX', 600_000)
      .xadd(
        stream,
        '*',
        'w',
        JSON.stringify({ schema: 'players', id: row.id, op: 'set', row: JSON.stringify(row) }),
      )
      .exec();
  return { write, stream };
}
