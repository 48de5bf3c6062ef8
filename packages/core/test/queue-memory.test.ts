import { createMemoryQueue } from '../src/queue/memory-queue.js';
import { describeQueueConformance } from '../testing/queue-conformance.js';

// One instance is the whole store: the concurrent-takers test runs two takes on it at once.
describeQueueConformance('memory', async () => {
  const queue = createMemoryQueue();
  return { queue, deadLetters: async () => queue.deadLetters(), cleanup: () => queue.close() };
});
