// bentocache's Redis driver (and its bus, @boringnode/bus) imports its optional peer `ioredis` from the root node_modules, where
// npm did not hoist it (the workspaces pin ioredis 6 in their own folders). This resolve hook hands
// bentocache the bench workspace's ioredis, so no extra package is installed. Loaded by run.mjs
// through `module.register` before anything imports bentocache.
import { register } from 'node:module';

const hook = `
const bench = ${JSON.stringify(new URL('../node_modules/ioredis/package.json', import.meta.url).href)};
export async function resolve(specifier, context, next) {
  if (specifier === 'ioredis' && context.parentURL && (context.parentURL.includes('/node_modules/bentocache/') || context.parentURL.includes('/node_modules/@boringnode/'))) {
    return next(specifier, { ...context, parentURL: bench });
  }
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(hook)}`);
