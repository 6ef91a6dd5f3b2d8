// Dependencies point one way (style.md rules 1 and 2): shared/ depends on nothing of ours, crypto/ on
// shared/ only, the two nodes never on each other, and only crypto/ touches cryptographic libraries.
// Every import is found with the TypeScript parser, so comments and strings cannot fool the check.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, posix, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const REPO = resolve(import.meta.dirname, '../..');
const LAYERS = ['shared', 'crypto', 'inner-node', 'outer-node'] as const;
type Layer = (typeof LAYERS)[number];

/** Which of our layers each layer must never import. */
const FORBIDDEN_LAYERS: Record<Layer, readonly Layer[]> = {
  shared: ['crypto', 'inner-node', 'outer-node'],
  crypto: ['inner-node', 'outer-node'],
  'inner-node': ['outer-node'],
  'outer-node': ['inner-node'],
};

/** Cryptographic modules only crypto/ may import (names, or prefixes ending in '*'). */
const CRYPTO_MODULES = ['node:crypto', 'crypto', '@peculiar/*', 'pkcs11js', 'sm-crypto*', 'node-forge'];

interface ImportSite {
  file: string;
  line: number;
  specifier: string;
  kind: 'import' | 'export' | 'dynamic import' | 'require' | 'import type';
}

/** Every module specifier a source file refers to, with its line; a computed one is '<computed>'. */
function findImports(file: string, text: string): ImportSite[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const sites: ImportSite[] = [];
  const add = (node: ts.Node, specifier: ts.Expression | undefined, kind: ImportSite['kind']): void => {
    const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
    const name = specifier && ts.isStringLiteralLike(specifier) ? specifier.text : '<computed>';
    sites.push({ file, line, specifier: name, kind });
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node)) {
      add(node, node.moduleSpecifier, 'import');
    } else if (ts.isExportDeclaration(node) && node.moduleSpecifier) {
      add(node, node.moduleSpecifier, 'export');
    } else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) {
      add(node, node.moduleReference.expression, 'require');
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node, node.arguments[0], 'dynamic import');
    } else if (
      ts.isCallExpression(node) &&
      ts.isIdentifier(node.expression) &&
      node.expression.text === 'require'
    ) {
      add(node, node.arguments[0], 'require');
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node, node.argument.literal, 'import type');
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return sites;
}

function listTsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name === 'node_modules') continue;
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...listTsFiles(path));
    else if (entry.isFile() && entry.name.endsWith('.ts')) out.push(path);
  }
  return out;
}

/** Repository-relative path with forward slashes. */
const repoPath = (path: string): string => relative(REPO, path).split(sep).join(posix.sep);

/** Which layer a relative specifier lands in, if any of ours. */
function targetLayer(fromFile: string, specifier: string): string | undefined {
  if (!specifier.startsWith('.')) return undefined;
  const target = repoPath(resolve(dirname(fromFile), specifier));
  return target.split('/')[0];
}

function isCryptoModule(specifier: string): boolean {
  return CRYPTO_MODULES.some((pattern) => {
    if (pattern.endsWith('*')) return specifier.startsWith(pattern.slice(0, -1));
    return specifier === pattern || specifier.startsWith(`${pattern}/`);
  });
}

/** Violations for one file, each naming the file, the line and the import. */
function violationsOf(layer: Layer, file: string, sites: ImportSite[]): string[] {
  const out: string[] = [];
  const at = (site: ImportSite): string => `${repoPath(file)}:${site.line} ${site.kind} '${site.specifier}'`;
  for (const site of sites) {
    if (site.specifier === '<computed>') {
      out.push(`${at(site)}: a computed module specifier cannot be checked; use a string literal`);
      continue;
    }
    const target = targetLayer(file, site.specifier);
    if (target && (FORBIDDEN_LAYERS[layer] as readonly string[]).includes(target)) {
      out.push(`${at(site)}: ${layer}/ must not import ${target}/ (style.md rule 1)`);
    }
    if (layer !== 'crypto' && isCryptoModule(site.specifier)) {
      out.push(`${at(site)}: only crypto/ may import a cryptographic library (style.md rule 2)`);
    }
  }
  return out;
}

const FILES = LAYERS.flatMap((layer) =>
  listTsFiles(join(REPO, layer)).map((file) => ({
    layer,
    file,
    sites: findImports(file, readFileSync(file, 'utf8')),
  })),
);

describe('the import parser', () => {
  it('finds every kind of import and ignores comments and strings', () => {
    const text = [
      "import a from './a.js';",
      'import {',
      '  b,',
      '  c,',
      "} from '../shared/b.js';",
      "import type { T } from './types.js';",
      "import './side-effect.js';",
      "export * from './re-export.js';",
      "export { d } from './named-export.js';",
      "const e = await import('./dynamic.js');",
      "type U = import('./type-only.js').U;",
      "// import x from './commented.js';",
      "/* export * from './block-comment.js'; */",
      'const s = "import(\'./in-a-string.js\')";',
      'const f = await import(name);',
    ].join('\n');
    const found = findImports('x.ts', text).map((s) => `${s.line} ${s.kind} ${s.specifier}`);
    expect(found).toEqual([
      '1 import ./a.js',
      '2 import ../shared/b.js',
      '6 import ./types.js',
      '7 import ./side-effect.js',
      '8 export ./re-export.js',
      '9 export ./named-export.js',
      '10 dynamic import ./dynamic.js',
      '11 import type ./type-only.js',
      '15 dynamic import <computed>',
    ]);
  });

  it('reports a violation naming the file, line and import', () => {
    const file = join(REPO, 'inner-node', 'example.ts');
    const sites = findImports(
      file,
      "import { x } from '../outer-node/import.js';\nimport { createHash } from 'node:crypto';\n",
    );
    expect(violationsOf('inner-node', file, sites)).toEqual([
      "inner-node/example.ts:1 import '../outer-node/import.js': inner-node/ must not import outer-node/ (style.md rule 1)",
      "inner-node/example.ts:2 import 'node:crypto': only crypto/ may import a cryptographic library (style.md rule 2)",
    ]);
  });

  it('recognises the cryptographic libraries', () => {
    for (const name of [
      'node:crypto',
      'crypto',
      '@peculiar/x509',
      '@peculiar/webcrypto',
      'pkcs11js',
      'sm-crypto',
      'sm-crypto-v2',
      'node-forge',
      'node-forge/lib/pki',
    ]) {
      expect(isCryptoModule(name), name).toBe(true);
    }
    for (const name of ['node:fs', 'cryptography-helpers', 'zod', '@peculiarity/x', 'node-forgery']) {
      expect(isCryptoModule(name), name).toBe(false);
    }
  });
});

describe('the repository', () => {
  it('has source files in every layer, and the parser sees their imports', () => {
    for (const layer of LAYERS) {
      expect(FILES.filter((f) => f.layer === layer).length, layer).toBeGreaterThan(0);
    }
    const all = FILES.flatMap((f) => f.sites);
    // crypto/ does use node:crypto, and the nodes do use shared/: the check is not vacuous.
    expect(all.some((s) => s.file.includes(`${sep}crypto${sep}`) && s.specifier === 'node:crypto')).toBe(
      true,
    );
    expect(
      all.some((s) => s.file.includes(`${sep}inner-node${sep}`) && s.specifier.includes('/shared/')),
    ).toBe(true);
  });

  it.each(LAYERS)('%s/ imports only what its layer allows', (layer) => {
    const violations = FILES.filter((f) => f.layer === layer).flatMap((f) =>
      violationsOf(layer, f.file, f.sites),
    );
    expect(violations).toEqual([]);
  });
});
