// CommonJS consumers: require() of the ESM packages, which Node 20.19+ and 22.12+ can do.
// Prints one JSON line: the export names of each entry point named on the command line.
const loaded = {};
for (const specifier of process.argv.slice(2)) loaded[specifier] = Object.keys(require(specifier)).sort();
console.log(JSON.stringify(loaded));
