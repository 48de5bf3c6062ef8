// The public surface of the workspace's packages, as an API report lists it: for every entry point
// of every publishable package, the names it exports at run time and the names it exports as types
// only. scripts/api-report.test.ts renders it and compares it with each package's api-report.md.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

export const repoRoot = fileURLToPath(new URL('..', import.meta.url));

/** One entry point: `import … from specifier` loads `source` under the `strata-source` condition. */
export interface Entry {
  specifier: string;
  /** Absolute path of the TypeScript source the `strata-source` condition names. */
  source: string;
}

export interface Package {
  name: string;
  /** The package's folder, relative to the repo root (`packages/core`). */
  dir: string;
  entries: Entry[];
}

/** What one entry point exports: run-time names (as `import *` sees them) and type-only names. */
export interface Surface {
  specifier: string;
  values: string[];
  types: string[];
}

interface Manifest {
  name: string;
  private?: boolean;
  exports: Record<string, string | Record<string, string>>;
}

/** Every packages/* that is published (not private), with the entry points of its `exports`. */
export function publishedPackages(): Package[] {
  const root = join(repoRoot, 'packages');
  return readdirSync(root)
    .sort()
    .map((name) => `packages/${name}`)
    .map((dir) => ({
      dir,
      manifest: JSON.parse(readFileSync(join(repoRoot, dir, 'package.json'), 'utf8')) as Manifest,
    }))
    .filter(({ manifest }) => !manifest.private)
    .map(({ dir, manifest }) => ({
      name: manifest.name,
      dir,
      entries: Object.entries(manifest.exports).flatMap(([subpath, target]) => {
        if (typeof target === 'string') return []; // './package.json': a file, not a module
        const source = target['strata-source'];
        if (!source) throw new Error(`${manifest.name} exports ${subpath} without a strata-source condition`);
        const specifier = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
        return [{ specifier, source: join(repoRoot, dir, source) }];
      }),
    }));
}

/** A compiler over the entry points' sources, resolving workspace imports as the typechecks do. */
export class ExportReader {
  readonly #program: ts.Program;
  readonly #checker: ts.TypeChecker;

  constructor(sources: readonly string[]) {
    const base = ts.getParsedCommandLineOfConfigFile(
      join(repoRoot, 'tsconfig.base.json'),
      {},
      {
        ...ts.sys,
        onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
          throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
        },
      },
    );
    if (!base) throw new Error('tsconfig.base.json could not be read');
    const options = { ...base.options, lib: ['lib.es2023.d.ts', 'lib.dom.d.ts'], types: ['node'] };
    this.#program = ts.createProgram({ rootNames: [...sources], options });
    this.#checker = this.#program.getTypeChecker();
  }

  /** The exports of the module `source`, aliases resolved to what they name. */
  exportsOf(source: string): Map<string, ts.Symbol> {
    const file = this.#program.getSourceFile(source);
    const module = file && this.#checker.getSymbolAtLocation(file);
    if (!module) throw new Error(`${source} is no module the compiler can read`);
    const exports = new Map<string, ts.Symbol>();
    for (const symbol of this.#checker.getExportsOfModule(module)) {
      const target = symbol.flags & ts.SymbolFlags.Alias ? this.#checker.getAliasedSymbol(symbol) : symbol;
      exports.set(symbol.name, target);
    }
    return exports;
  }

  /** The doc comment of a declaration (empty when there is none) and the names of its tags. */
  docsOf(symbol: ts.Symbol): { comment: string; tags: string[] } {
    return {
      comment: ts.displayPartsToString(symbol.getDocumentationComment(this.#checker)).trim(),
      tags: symbol.getJsDocTags(this.#checker).map((tag) => tag.name),
    };
  }
}

/**
 * An entry point's surface: `runtime` are the keys of the loaded module; every other name the
 * compiler sees exported is a type. A run-time name the compiler does not see is an error.
 */
export function surfaceOf(entry: Entry, runtime: readonly string[], reader: ExportReader): Surface {
  const declared = [...reader.exportsOf(entry.source).keys()];
  const unknown = runtime.filter((name) => !declared.includes(name));
  if (unknown.length > 0)
    throw new Error(`${entry.specifier}: run-time exports the compiler does not see: ${unknown.join(', ')}`);
  const values = [...runtime].sort(byCodePoint);
  const types = declared.filter((name) => !runtime.includes(name)).sort(byCodePoint);
  return { specifier: entry.specifier, values, types };
}

const byCodePoint = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/** The api-report.md of one package. */
export function renderReport(pkg: Package, surfaces: readonly Surface[]): string {
  const lines = [
    `# API report: ${pkg.name}`,
    '',
    '<!-- Written by `npm run api:report` (scripts/api-report.test.ts), which fails when an entry point',
    'exports a name this file does not list, or no longer exports one it lists. Do not edit by hand. -->',
  ];
  for (const surface of surfaces) {
    lines.push('', `## ${surface.specifier}`, '');
    const count = surface.values.length + surface.types.length;
    lines.push(`${count} ${count === 1 ? 'name' : 'names'}.`);
    lines.push('', `Values (${surface.values.length}):`, '', ...bullets(surface.values));
    lines.push('', `Types (${surface.types.length}):`, '', ...bullets(surface.types));
  }
  return `${lines.join('\n')}\n`;
}

const bullets = (names: readonly string[]) =>
  names.length > 0 ? names.map((name) => `- ${name}`) : ['- (none)'];
