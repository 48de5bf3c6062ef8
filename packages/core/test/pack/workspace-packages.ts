import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repoRoot = fileURLToPath(new URL('../../../..', import.meta.url));

/** One public entry point: `import … from specifier` resolves to these files of the package. */
export interface EntryPoint {
  specifier: string;
  /** Paths inside the package, without the leading `./`. */
  types: string;
  runtime: string;
}

export interface WorkspacePackage {
  name: string;
  dir: string;
  entries: EntryPoint[];
  /** Bin name -> path inside the package. */
  bins: Record<string, string>;
}

interface Manifest {
  name: string;
  private?: boolean;
  exports: Record<string, string | Record<string, string>>;
  bin?: Record<string, string>;
}

const strip = (path: string) => path.replace(/^\.\//, '');

/** The publishable packages: every packages/* that is not private, with its exports as entries. */
export function publishablePackages(): WorkspacePackage[] {
  const root = join(repoRoot, 'packages');
  return readdirSync(root)
    .map((name) => join(root, name))
    .filter((dir) => existsSync(join(dir, 'package.json')))
    .map((dir) => ({
      dir,
      manifest: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as Manifest,
    }))
    .filter(({ manifest }) => !manifest.private)
    .map(({ dir, manifest }) => ({
      name: manifest.name,
      dir,
      entries: Object.entries(manifest.exports).flatMap(([subpath, target]) => {
        // './package.json' and other plain-file exports are no modules to import.
        if (typeof target === 'string') return [];
        // What `import` loads; whether require() can load it too is for the tests to find out.
        const runtime = target.import ?? target.default;
        if (!target.types || !runtime)
          throw new Error(`${manifest.name} exports ${subpath} without types or code`);
        const specifier = subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`;
        return [{ specifier, types: strip(target.types), runtime: strip(runtime) }];
      }),
      bins: Object.fromEntries(Object.entries(manifest.bin ?? {}).map(([bin, path]) => [bin, strip(path)])),
    }));
}

/** Fails with what to do when a package's built files are missing (npm test builds before vitest). */
export function assertBuilt(packages: readonly WorkspacePackage[]): void {
  const missing = packages.flatMap((pkg) =>
    pkg.entries
      .flatMap((entry) => [entry.types, entry.runtime])
      .map((file) => join(pkg.dir, file))
      .filter((path) => !existsSync(path)),
  );
  if (missing.length > 0) {
    throw new Error(`not built (missing ${missing.join(', ')}): run npm run build first`);
  }
}
