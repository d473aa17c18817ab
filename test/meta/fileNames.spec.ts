// Keeps file names saying what a file holds: a PascalCase file is named after the class it exports, a camelCase file
// is a module of functions (it may define the errors its functions throw, or a family of classes, as the Python SDK's
// sastoken module does), a node's file is its node type.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

const root = path.resolve(__dirname, '..', '..');
const DIRS = ['src', 'nodes', 'scripts', 'bench', path.join('test', 'helpers')];

function sourceFiles(dir: string): string[] {
  const full = path.join(root, dir);
  if (!fs.existsSync(full)) return [];
  return fs
    .readdirSync(full, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
    .map((f) => path.join(dir, f));
}

/** The exported classes of a file, each with whether it extends an error class. */
function exportedClasses(file: string): Array<{ name: string; isError: boolean }> {
  const source = ts.createSourceFile(file, fs.readFileSync(path.join(root, file), 'utf8'), ts.ScriptTarget.Latest);
  const classes: Array<{ name: string; isError: boolean }> = [];
  for (const statement of source.statements) {
    if (!ts.isClassDeclaration(statement) || !statement.name) continue;
    if (!statement.modifiers?.some((m) => m.kind === ts.SyntaxKind.ExportKeyword)) continue;
    const base = statement.heritageClauses?.[0]?.types[0]?.expression.getText(source) ?? '';
    classes.push({ name: statement.name.text, isError: /Error$/.test(base) || /Error$/.test(statement.name.text) });
  }
  return classes;
}

describe('file names', () => {
  const files = DIRS.flatMap(sourceFiles).filter((file) => !/^iothub-/.test(path.basename(file)));

  it('finds the source files', () => {
    assert.ok(files.length > 100, `${files.length} files`);
  });

  it('a PascalCase file exports the class it is named after', () => {
    const wrong = files
      .filter((file) => /^[A-Z]/.test(path.basename(file)))
      .filter((file) => !exportedClasses(file).some((c) => c.name === path.basename(file, '.ts')));
    assert.deepEqual(wrong, []);
  });

  it('a camelCase file does not export one class (beside the errors its functions throw): that file is the class', () => {
    const wrong = files
      .filter((file) => /^[a-z]/.test(path.basename(file)))
      .filter((file) => exportedClasses(file).filter((c) => !c.isError).length === 1);
    assert.deepEqual(wrong, []);
  });
});
