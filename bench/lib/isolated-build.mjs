// A build of Strata's core and Node adapter loaded as modules of their own, apart from the copy the
// bench's own helpers import: an A/B side whose code nothing else in the process calls (see
// l2-ab.mjs `--isolate`). The layout is the one `--base <dir>` takes: <dir>/node_modules/@strata/
// {core,adapter-node} (package.json + dist, and their own node_modules linked), next to links to
// the repo's other node_modules.
import { cp, mkdir, mkdtemp, readdir, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PACKAGES = ['core', 'adapter-node'];

/**
 * Copies `repo`'s current build of core and adapter-node into a new temporary directory laid out as
 * `--base` expects. Resolves the directory and a function that removes it.
 * @example const { dir, remove } = await copyBuild(process.cwd()); const side = await baseBuild(dir); // lib/args.mjs
 */
export async function copyBuild(repo) {
  const dir = await mkdtemp(join(tmpdir(), 'strata-ab-'));
  const modules = join(dir, 'node_modules');
  await mkdir(join(modules, '@strata'), { recursive: true });
  for (const name of await readdir(join(repo, 'node_modules'))) {
    if (name !== '@strata' && !name.startsWith('.'))
      await symlink(join(repo, 'node_modules', name), join(modules, name));
  }
  for (const pkg of PACKAGES) {
    const from = join(repo, 'packages', pkg);
    const to = join(modules, '@strata', pkg);
    await mkdir(join(to, 'node_modules'), { recursive: true });
    await cp(join(from, 'package.json'), join(to, 'package.json'));
    await cp(join(from, 'dist'), join(to, 'dist'), { recursive: true });
    // A package's own dependencies (ioredis is installed under each package, not at the root).
    const own = await readdir(join(from, 'node_modules')).catch(() => []);
    for (const name of own) await symlink(join(from, 'node_modules', name), join(to, 'node_modules', name));
  }
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
