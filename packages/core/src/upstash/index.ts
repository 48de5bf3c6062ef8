// `@strata/core/upstash`: its own entry so that only apps using Upstash load `@upstash/redis`.

export { createUpstashSseBus, type UpstashSseBusOptions } from './bus.js';
export type { UpstashBusSource } from './client.js';
export { createUpstashL2, type UpstashL2Config } from './l2.js';
export { createUpstashLogBus, type UpstashLogBusOptions } from './log-bus.js';
