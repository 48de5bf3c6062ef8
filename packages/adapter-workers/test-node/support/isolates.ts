/**
 * Runs the coherence fixture Worker as separate isolates: one esbuild bundle (resolved as wrangler
 * would for workerd), each `Miniflare` its own workerd process, and small typed calls to its routes.
 */
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { Miniflare } from 'miniflare';
import type { CoherenceEnv, GetReply } from '../fixtures/coherence-worker.js';

const fixture = fileURLToPath(new URL('../fixtures/coherence-worker.ts', import.meta.url));

/** The fixture and all its dependencies as one ES module, as a Worker deploy would ship it. */
export async function bundleWorker(): Promise<string> {
  const result = await build({
    entryPoints: [fixture],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    // Workspace packages by their TypeScript sources, then what wrangler resolves for workerd.
    conditions: ['strata-source', 'workerd', 'worker', 'browser'],
    // Provided by workerd itself (nodejs_compat), never bundled.
    external: ['node:*', 'cloudflare:*'],
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  if (!output) throw new Error('esbuild produced no bundle for the coherence worker');
  return output.text;
}

/** One isolate: its own workerd process running the bundle with these bindings. */
export async function startIsolate(script: string, env: CoherenceEnv): Promise<Miniflare> {
  const mf = new Miniflare({
    modules: true,
    script,
    compatibilityDate: '2026-04-01',
    compatibilityFlags: ['nodejs_compat'],
    bindings: { ...env },
  });
  await mf.ready;
  return mf;
}

async function call<T>(mf: Miniflare, path: string, body?: unknown): Promise<T> {
  const init =
    body === undefined
      ? { method: 'GET' }
      : { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } };
  const res = await mf.dispatchFetch(`http://isolate.test${path}`, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${init.method} ${path}: ${res.status} ${text}`);
  return JSON.parse(text) as T;
}

export const migrate = (mf: Miniflare) => call<{ ok: true }>(mf, '/migrate', {});
export const setN = (mf: Miniflare, id: string, n: number) =>
  call<{ id: string; n: number }>(mf, '/set', { id, n });
export const getRow = (mf: Miniflare, id: string) => call<GetReply>(mf, `/get?id=${encodeURIComponent(id)}`);

export { percentile } from '@strata/core/testing';
