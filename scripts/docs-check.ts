// What scripts/docs.test.ts checks in the pages a newcomer reads (README.md and docs/*.md): that every
// relative link and anchor resolves, and that every ```ts sample type-checks against the built
// packages (scripts/doc-samples/, with the names samples take from the reader's code in prelude.d.ts).
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const samplesDir = join(repoRoot, 'scripts/doc-samples');

/** README.md, docs/*.md and each package's README.md, relative to the repo root. */
export function docPages(): string[] {
  const docs = readdirSync(join(repoRoot, 'docs')).filter((file) => file.endsWith('.md'));
  const packages = readdirSync(join(repoRoot, 'packages'))
    .map((dir) => `packages/${dir}/README.md`)
    .filter((page) => existsSync(join(repoRoot, page)));
  return ['README.md', ...docs.sort().map((file) => `docs/${file}`), ...packages.sort()];
}

const withoutBlocks = (text: string) => text.replace(/^```[\s\S]*?^```/gm, '');
const withoutCode = (text: string) => withoutBlocks(text).replace(/`[^`\n]*`/g, '');

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens. */
const slug = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');

function anchorsOf(file: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const [, heading] of withoutBlocks(readFileSync(file, 'utf8')).matchAll(/^#{1,6}\s+(.*)$/gm)) {
    const base = slug(heading!);
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Relative links of `page` (its text, or `text`) whose file, or whose anchor in a Markdown file, does not exist. */
export function brokenLinks(page: string, text = readFileSync(join(repoRoot, page), 'utf8')): string[] {
  const file = join(repoRoot, page);
  const broken: string[] = [];
  for (const [, href] of withoutCode(text).matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/i.test(href!)) continue;
    const [path, anchor] = href!.split('#');
    const target = path ? resolve(dirname(file), path) : file;
    if (!existsSync(target)) broken.push(`${page}: ${href} (no such file)`);
    else if (anchor && statSync(target).isFile() && target.endsWith('.md') && !anchorsOf(target).has(anchor))
      broken.push(`${page}: ${href} (no such heading)`);
  }
  return broken;
}

export interface Sample {
  page: string;
  /** Line of the block's first code line in `page`. */
  line: number;
  code: string;
}

/** Every ```ts block of the pages, those indented in a list item too (dedented). */
export function tsSamples(pages = docPages()): Sample[] {
  return pages.flatMap((page) => {
    const text = readFileSync(join(repoRoot, page), 'utf8');
    return [...text.matchAll(/^( *)```ts\b[^\n]*\n([\s\S]*?)^\1```/gm)].map((match) => ({
      page,
      line: text.slice(0, match.index).split('\n').length + 1,
      code: match[2]!.replace(new RegExp(`^${match[1]}`, 'gm'), ''),
    }));
  });
}

const sampleFile = (sample: Sample) =>
  `${sample.page.replace(/\.md$/, '').replace(/[^A-Za-z0-9]+/g, '-')}-L${sample.line}.sample.ts`;

/**
 * Type-checks the samples, each a module of its own, with tsc against the built declarations.
 * Resolves each error as `page:line: message`, at the line of the page it comes from.
 */
export function typecheckSamples(samples: readonly Sample[]): string[] {
  for (const old of readdirSync(samplesDir).filter((file) => file.endsWith('.sample.ts')))
    rmSync(join(samplesDir, old));
  const byFile = new Map(samples.map((sample) => [sampleFile(sample), sample]));
  for (const [file, sample] of byFile) writeFileSync(join(samplesDir, file), `${sample.code}export {};\n`);
  const tsc = join(repoRoot, 'node_modules/typescript/bin/tsc');
  const run = spawnSync(process.execPath, [tsc, '-p', samplesDir, '--pretty', 'false'], { encoding: 'utf8' });
  const errors: string[] = [];
  for (const line of run.stdout.split('\n').filter((l) => / error TS\d+/.test(l))) {
    const at = /^(.+?)\((\d+),\d+\): (.*)$/.exec(line);
    const sample = at && byFile.get(relative(samplesDir, join(repoRoot, at[1]!)));
    errors.push(sample ? `${sample.page}:${sample.line + Number(at[2]) - 1}: ${at[3]}` : line);
  }
  if (run.status !== 0 && errors.length === 0) errors.push(`tsc exited ${run.status}: ${run.stderr}`);
  return errors;
}
