// A CPU profile of one stretch of a bench script (the timed calls, not the set-up), through the
// inspector: what `node --cpu-prof` writes for the whole process, for a window of it.
import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';

/**
 * Starts the V8 CPU profiler (sampling every `intervalUs`); `stop(file)` writes the .cpuprofile.
 * @example const p = await startProfile(); await work(); await p.stop('/tmp/work.cpuprofile');
 */
export async function startProfile(intervalUs = 200) {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: intervalUs });
  await session.post('Profiler.start');
  return {
    async stop(file) {
      const { profile } = await session.post('Profiler.stop');
      session.disconnect();
      await writeFile(file, JSON.stringify(profile));
    },
  };
}
