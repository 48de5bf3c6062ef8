// `@strata/core/upstash`: its own entry so that only apps using Upstash load `@upstash/redis`.

export { createUpstashLogBus, type UpstashLogBusOptions } from './bus/log-bus.js';
export type { UpstashBusSource } from './bus/upstash-client.js';
export { createUpstashSseBus, type UpstashSseBusOptions } from './bus/upstash-sse-bus.js';
export { createUpstashL2, type UpstashL2Config } from './l2/upstash-l2.js';
