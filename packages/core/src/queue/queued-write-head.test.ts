import { describe, expect, it } from 'vitest';
import { queuedWriteHead } from './queued-write-head.js';
import { decodeQueuedWrite } from './queued-write-schema.js';
import type { QueuedWrite } from './types.js';

describe('queuedWriteHead', () => {
  // Ids and rows with what JSON must escape: quotes, backslashes, control characters, a lone surrogate.
  const writes: QueuedWrite[] = [
    { schema: 'app:players', id: 'p1', op: 'set', row: '{"id":"p1","n":1}', version: 9_007_199_254_740_991 },
    // The writer's app, as a producer names it (and an older producer's write without it, below).
    { schema: 'app:players', keyPrefix: 'shop"eu', id: 'p0', op: 'set', row: '{"id":"p0"}', version: 2 },
    { schema: 'app:players', keyPrefix: 'shop', id: 'p5', op: 'delete', version: 3 },
    { schema: 'a"b\\c', id: 'k\n\u0001\ud800', op: 'set', row: '"\\\t\u2028', version: 1 },
    { schema: 'app:players', id: 'p2', op: 'delete', version: 0 },
    // A partial set over queued writes a mark covers (a row beneath it; a queued delete beneath it).
    {
      schema: 'app:players',
      id: 'p3',
      op: 'set',
      row: '{"id":"p3","n":3}',
      under: { below: 12, row: '{"id":"p3","note":"q\\"}' },
      version: 13,
    },
    { schema: 'app:players', id: 'p4', op: 'set', row: '{"id":"p4"}', under: { below: 7 }, version: 8 },
    // A partial set of a key with no row: the defaults it filled only its insert sets.
    { schema: 'app:players', id: 'p5', op: 'set', row: '{"id":"p5","d":"fn"}', defaults: ['d'], version: 3 },
    {
      schema: 'app:players',
      id: 'p6',
      op: 'set',
      row: '{"id":"p6","d":"fn"}',
      under: { below: 7 },
      defaults: ['d'],
      version: 8,
    },
  ];

  it('plus the version and "}" is exactly the JSON of the write, and reads back as it', () => {
    for (const write of writes) {
      const text = `${queuedWriteHead(write.schema, write.keyPrefix, write.id, write.row, write.under, write.defaults)}${write.version}}`;
      expect(text).toBe(JSON.stringify(write));
      expect(decodeQueuedWrite(text)).toEqual(write);
    }
  });
});
