// The second Node instance of the change-capture latency bench, in a process of its own (as a
// second server would be): its own Strata (LISTEN relay, pub/sub bus), driven over IPC by
// bench/suites/capture.mjs. Times are epoch milliseconds with sub-millisecond precision
// (performance.timeOrigin + performance.now()), comparable across the two processes.
import { createStrata } from '@strata/adapter-node';
import { itemsSchema } from './capture-items.mjs';

const { databaseUrl, redisUrl, schemaName, keyPrefix } = JSON.parse(process.env.CAPTURE_CHILD ?? '{}');
const items = itemsSchema(schemaName);
const node = await createStrata({
  databaseUrl,
  redisUrl,
  schemas: [items],
  keyPrefix,
  migrationsSchema: schemaName,
  handleSignals: false,
  capture: { relay: { interval: '1h' }, listen: true },
});
const now = () => performance.timeOrigin + performance.now();
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const DEADLINE_MS = 5_000;

async function until(done, what) {
  const since = now();
  for (;;) {
    const row = await node.strata.find(items, 'hot');
    if (done(row)) return;
    if (now() - since > DEADLINE_MS)
      throw new Error(`capture child: ${what} not seen within ${DEADLINE_MS} ms`);
    await pause(1);
  }
}

process.on('message', async (message) => {
  try {
    if (message.op === 'hold') {
      // Reads until it holds n in L1: a bus message landing mid-read refuses a fill.
      await until(
        (row) => row?.n === message.n && node.strata.peek(items, 'hot') !== undefined,
        `n = ${message.n} in L1`,
      );
      process.send({ op: 'held' });
    } else if (message.op === 'watch') {
      await until((row) => row?.n === message.n, `n = ${message.n}`);
      process.send({ op: 'seen', at: now() });
    } else if (message.op === 'errors') {
      process.send({ op: 'errors', errors: node.strata.stats().capture.relay?.errors ?? 0 });
    } else if (message.op === 'close') {
      await node.shutdown();
      process.send({ op: 'closed' });
      process.disconnect();
    }
  } catch (error) {
    process.send({ op: 'failed', error: String(error) });
  }
});
await node.strata.relayChanges(); // as the parent's instance did: the cursor exists from here on
process.send({ op: 'ready' });
