/**
 * What a Worker's bundle weighs and which package each byte comes from: `wrangler deploy --dry-run`
 * with its esbuild metafile (every input's `bytesInOutput`), and the same bundle rebuilt without the
 * app's packages so that Strata's share can be gzipped on its own.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { build, type Metafile } from 'esbuild';

export interface Weight {
  /** Bytes of the bundle (or of a share of it). */
  raw: number;
  /** Bytes after zlib's gzip at its default level, as wrangler's "Total Upload … gzip" counts. */
  gzip: number;
}

export interface WorkerBundle extends Weight {
  /** Bytes in the output by package name (`@strata/core`, `zod`, …); the Worker's own code is `APP`. */
  byPackage: Map<string, number>;
  /** Every input file with bytes in the output, as the metafile names it. */
  inputs: string[];
  /** The bundle's text, to look for what must not be in it. */
  code: string;
}

/** What the Worker's own source files are attributed to. */
export const APP = '(the app)';

const runFile = promisify(execFile);
const wranglerBin = createRequire(import.meta.url).resolve('wrangler/bin/wrangler.js');

/**
 * `wrangler deploy --dry-run` of `entry` from a fresh `dir` (wrangler writes `.wrangler/` there), with
 * `--minify` or without: the bundle a deploy would upload, and its metafile.
 */
export async function wranglerDryRun(entry: string, dir: string, minify: boolean): Promise<WorkerBundle> {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, 'wrangler.toml'),
    `name = "strata-bundle-budget"\nmain = ${JSON.stringify(entry)}\ncompatibility_date = "2026-04-01"\ncompatibility_flags = ["nodejs_compat"]\n`,
  );
  const out = join(dir, 'out');
  const args = ['deploy', '--dry-run', '--outdir', out, '--metafile', join(out, 'meta.json')];
  await runFile(process.execPath, [wranglerBin, ...args, ...(minify ? ['--minify'] : [])], {
    cwd: dir,
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CI: '1' },
  });
  const metafile = JSON.parse(readFileSync(join(out, 'meta.json'), 'utf8')) as Metafile;
  const [outFile, output] = entryOutput(metafile);
  return weigh(readFileSync(resolve(dir, outFile)), output, (input) => packageOf(input, dir, entry));
}

/**
 * The same entry bundled with the options wrangler gives esbuild (target, conditions, keepNames,
 * define, loaders; see wrangler's `bundleWorker`), with `external` packages left out: what is left is
 * Strata's share (and the entry's own few lines), so its gzip is the share's gzip.
 */
export async function rebuildWithout(
  entry: string,
  dir: string,
  external: readonly string[],
  minify: boolean,
): Promise<WorkerBundle> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: dir,
    outdir: join(dir, 'rebuilt'),
    write: false,
    bundle: true,
    format: 'esm',
    target: 'es2024',
    supported: { 'import-source': true },
    keepNames: true,
    minify,
    sourcemap: true,
    metafile: true,
    conditions: ['workerd', 'worker', 'browser'],
    define: { 'process.env.NODE_ENV': '"production"', 'globalThis.process.env.NODE_ENV': '"production"' },
    loader: { '.js': 'jsx', '.mjs': 'jsx', '.cjs': 'jsx' },
    external: [...external, 'node:*', 'cloudflare:*'],
    logLevel: 'silent',
  });
  const [outFile, output] = entryOutput(result.metafile);
  const file = result.outputFiles.find((f) => f.path === resolve(dir, outFile));
  if (!file) throw new Error(`esbuild wrote no ${outFile}`);
  return weigh(Buffer.from(file.contents), output, (input) => packageOf(input, dir, entry));
}

/** `roots` and the packages they bring with them: their `dependencies`, transitively, as installed. */
export function withDependencies(roots: readonly string[], fromDir: string): Set<string> {
  const found = new Set<string>();
  const visit = (name: string, from: string) => {
    if (found.has(name)) return;
    const dir = installedDir(name, from);
    if (!dir) return; // an optional dependency that is not installed
    found.add(name);
    const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
    };
    for (const dependency of Object.keys(pkg.dependencies ?? {})) visit(dependency, dir);
  };
  for (const root of roots) visit(root, fromDir);
  return found;
}

/** Node's lookup: `node_modules/<name>` in `from` or the nearest folder above it that has one. */
function installedDir(name: string, from: string): string | undefined {
  for (let dir = from; ; dir = dirname(dir)) {
    const candidate = join(dir, 'node_modules', name);
    if (existsSync(join(candidate, 'package.json'))) return candidate;
    if (dirname(dir) === dir) return undefined;
  }
}

/** The package an input path (relative to `dir`) belongs to: the innermost `node_modules/<name>`, a workspace package, or the app. */
export function packageOf(input: string, dir: string, entry: string): string {
  if (input.startsWith('<')) return input; // esbuild's own helpers, e.g. keepNames' __name
  const installed = [...input.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)\//g)].at(-1);
  if (installed) return installed[1]!;
  if (resolve(dir, input) === entry) return APP;
  const workspace = /(?:^|\/)packages\/([^/]+)\//.exec(input);
  return workspace ? `@strata/${workspace[1]}` : APP;
}

type Output = Metafile['outputs'][string];

function entryOutput(metafile: Metafile): [string, Output] {
  const found = Object.entries(metafile.outputs).find(([, output]) => output.entryPoint !== undefined);
  if (!found) throw new Error('the metafile names no output for the entry point');
  return found;
}

function weigh(bytes: Buffer, output: Output, owner: (input: string) => string): WorkerBundle {
  const byPackage = new Map<string, number>();
  for (const [input, { bytesInOutput }] of Object.entries(output.inputs)) {
    const name = owner(input);
    byPackage.set(name, (byPackage.get(name) ?? 0) + bytesInOutput);
  }
  const inputs = Object.entries(output.inputs).filter(([, { bytesInOutput }]) => bytesInOutput > 0);
  return {
    raw: bytes.length,
    gzip: gzipSync(bytes).length,
    byPackage,
    inputs: inputs.map(([input]) => input),
    code: bytes.toString('utf8'),
  };
}
