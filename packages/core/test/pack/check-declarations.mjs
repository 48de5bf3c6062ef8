// Type-checks a consumer project as `tsc -p <tsconfig>` would with skipLibCheck false, but asks the
// compiler for the diagnostics of the project's own files and of the @strata declarations only:
// drizzle-orm's declarations fail a library check of their own (drizzle-orm issue #5187), and
// checking all of its dialects is most of a full run's time. Prints one JSON line:
// { errors: string[], checked: string[] }.
import ts from 'typescript';

const [config] = process.argv.slice(2);
const host = {
  ...ts.sys,
  onUnRecoverableConfigFileDiagnostic: (diagnostic) => {
    throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
  },
};
const parsed = ts.getParsedCommandLineOfConfigFile(config, {}, host);
if (parsed.options.skipLibCheck !== false) throw new Error(`${config} must set skipLibCheck: false`);
const program = ts.createProgram({ rootNames: parsed.fileNames, options: parsed.options });
const ours = (file) =>
  !file.fileName.includes('/node_modules/') || file.fileName.includes('/node_modules/@strata/');
const checked = program.getSourceFiles().filter(ours);
const diagnostics = [
  ...parsed.errors,
  ...program.getOptionsDiagnostics(),
  ...program.getGlobalDiagnostics(),
  ...checked.flatMap((file) => [
    ...program.getSyntacticDiagnostics(file),
    ...program.getSemanticDiagnostics(file),
  ]),
];
const format = {
  getCanonicalFileName: (name) => name,
  getCurrentDirectory: () => process.cwd(),
  getNewLine: () => '\n',
};
const errors = diagnostics.map((diagnostic) => ts.formatDiagnostic(diagnostic, format).trim());
console.log(JSON.stringify({ errors, checked: checked.map((file) => file.fileName) }));
