import type { StrataBindings } from '@strata/adapter-workers';
import type { QueueProducer } from '@strata/adapter-workers/cloudflare';
import { changeRelay } from '@strata/core';
import { changeCapture } from '@strata/core/drizzle';
import { DEMO_PG_SCHEMA } from './db/schema.js';
import { schemas } from './db/strata-schemas.js';

/** The Worker's bindings (root wrangler.toml): the Strata settings plus the write-behind queues. */
export interface Env extends StrataBindings {
  /** Producer of `strata-demo-writes`: write-behind `scores` go here (createStrata finds it by name). */
  WRITES?: QueueProducer;
  /** Producer of `strata-demo-writes-dlq`: writes the consumer gives up on. */
  WRITES_DLQ?: QueueProducer;
  /** Namespace of this deployment's Redis keys (default 'strata'), so environments can share one Upstash database. */
  STRATA_KEY_PREFIX?: string;
}

/** Every second at most, one isolate reads the change log and the others follow (docs/change-capture.md). */
const relay = changeRelay({ interval: '1s' });

/**
 * The options of this Worker's Strata: the same for requests and for the queue consumer. Strata's own
 * tables sit beside the demo's, in its Postgres schema. Writes made outside the demo (psql, another
 * service) reach its caches through change capture, which `npm start` installs
 * (`strata capture install`): a relay rides on requests and reads the log at most every second.
 */
export function strataOptions(env: Env) {
  return {
    schemas,
    migrationsSchema: DEMO_PG_SCHEMA,
    changeCapture,
    capture: { relay },
    ...(env.STRATA_KEY_PREFIX ? { keyPrefix: env.STRATA_KEY_PREFIX } : {}),
  };
}
