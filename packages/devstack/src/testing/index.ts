import { inject } from 'vitest';
import type { DevstackInfo } from '../types.js';

export { serviceUrls, uniqueName } from '../defaults.js';
export { type DropScratchSchemaOptions, dropScratchSchema, type Queryable } from '../scratch-schema.js';
export { type KeyedRedis, lapseWriterClaims } from './writer-claims.js';

declare module 'vitest' {
  export interface ProvidedContext {
    devstack: DevstackInfo;
  }
}

/**
 * The devstack that the global setup started once for this test run (URLs and tokens).
 * @example const { upstash } = testDevstack(); const redis = new Redis(upstash!);
 */
export function testDevstack(): DevstackInfo {
  return inject('devstack');
}
