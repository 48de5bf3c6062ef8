// `@strata/adapter-workers`: one Strata per isolate from a Worker's bindings. The Hono middleware
// is `@strata/adapter-workers/hono` (apps without Hono skip it); Cloudflare Queues (the write-behind
// producer and the `queue()` consumer) are `@strata/adapter-workers/cloudflare`.

export { type CreateStrataOptions, createStrata, type StrataBindings } from './create-strata.js';
