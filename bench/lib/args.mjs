// The command line of the benches, and the baseline build the A/B ones (wb-ab.mjs, wb-replay.mjs,
// l2-ab.mjs) compare this branch with: `--base <dir>`, a checkout with its own node_modules, built.
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The value after `name` on the command line (`--runs 5` -> '5'), or `fallback` when it is not there. */
export function arg(name, fallback) {
  const at = process.argv.indexOf(name);
  return at < 0 ? fallback : process.argv[at + 1];
}

/** Whether `name` is on the command line (`--cpu`). */
export function flag(name) {
  return process.argv.includes(name);
}

/** The baseline's core, drizzle and redis-tcp modules, from `--base <dir>`; undefined without it. */
export async function baseBuild(dir = arg('--base')) {
  if (!dir) return undefined;
  const from = (p) => import(pathToFileURL(resolve(dir, 'node_modules/@strata', p)).href);
  return {
    core: await from('core/dist/index.js'),
    drizzle: await from('core/dist/drizzle.js'),
    tcp: await from('adapter-node/dist/redis-tcp.js'),
  };
}
