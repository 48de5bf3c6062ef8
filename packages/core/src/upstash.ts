// `@strata/core/upstash`: its own entry so that only apps using Upstash load `@upstash/redis`.
export { createUpstashL2, type UpstashL2Config } from './l2/upstash-l2.js';
