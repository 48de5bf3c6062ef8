import { StrataError } from '../errors.js';
import type { WriteQueue } from '../queue/types.js';
import type { FlushLoop } from './flush-loop.js';

/**
 * A queue that says which app it serves (the Redis Stream queue's `namespace`, its key prefix) must
 * serve this one: two apps on one stream and consumer group would take each other's writes.
 */
export function checkQueueNamespace(queue: WriteQueue | undefined, keyPrefix: string): void {
  const namespace = (queue as { namespace?: unknown } | undefined)?.namespace;
  if (typeof namespace !== 'string' || namespace === keyPrefix) return;
  throw new StrataError(
    'INVALID_CONFIG',
    `config.writeBehind.queue's keyPrefix ${JSON.stringify(namespace)} is not config.keyPrefix ${JSON.stringify(keyPrefix)}`,
    { details: { field: 'writeBehind.queue' } },
  );
}

/**
 * The loop a pull queue (one with `take`) brings (`WriteQueue.flushLoop`): nothing else would ever
 * flush its writes, so one without it is refused (INVALID_CONFIG, nothing opened).
 */
export function pullLoopOf(queue: WriteQueue): typeof FlushLoop {
  if (queue.flushLoop) return queue.flushLoop;
  throw new StrataError(
    'INVALID_CONFIG',
    `config.writeBehind.queue ${queue.name} has take (a pull queue) but no flushLoop: set it to FlushLoop (@strata/core/driver)`,
    { details: { field: 'writeBehind.queue' } },
  );
}
