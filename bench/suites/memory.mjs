// L1 memory and eviction quality, measured in a child process started with --expose-gc (so a full
// GC can run before each heap reading); see memory-child.mjs.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export async function memorySuite() {
  const child = fileURLToPath(new URL('./memory-child.mjs', import.meta.url));
  const stdout = await new Promise((done, fail) =>
    execFile(
      process.execPath,
      ['--expose-gc', child],
      { timeout: 120_000, maxBuffer: 1 << 20 },
      (err, out, errOut) =>
        err ? fail(new Error(`memory suite failed: ${errOut || err.message}`)) : done(out),
    ),
  );
  const { memory, hitRates, zipf } = JSON.parse(stdout.trim().split('\n').pop());
  const alone = memory['rows alone (array)'];
  const rows = Object.entries(memory).map(([name, bytes]) => ({
    section: 'L1 memory: bytes per entry at 100k demo player rows',
    name,
    value: `${bytes} B`,
    note: name === 'rows alone (array)' ? 'the rows themselves' : `+${bytes - alone} B over the rows alone`,
  }));
  for (const [name, rate] of Object.entries(hitRates)) {
    rows.push({
      section: `L1 hit rate: Zipf(${zipf.s}), ${zipf.keys / 1000}k keys, ${zipf.size / 1000}k entries`,
      name,
      value: `${(rate * 100).toFixed(1)} %`,
      note: `${zipf.accesses / 1e6}M accesses after ${zipf.warm / 1000}k warm-up`,
    });
  }
  return { rows, targets: [], raw: { memory, hitRates, zipf } };
}
