export { createIoredisL2 } from './l2/ioredis-l2.js';
export { nodeScheduler } from './scheduler.js';
