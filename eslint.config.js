// Lint rules, including the dependency direction the design requires (style.md rules 1 and 2):
// shared/ depends on nothing of ours; crypto/ on shared/; the two nodes on both, never on each other;
// only crypto/ touches cryptographic libraries.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const cryptoLibraries = [
  'node:crypto',
  'crypto',
  'node:webcrypto',
  '@peculiar/*',
  'pkcs11js',
  'graphene-pk11',
  'sm-crypto*',
  'node-forge',
];
const cryptoPaths = cryptoLibraries
  .filter((name) => !name.includes('*'))
  .map((name) => ({ name, message: 'Only crypto/ may use cryptographic libraries (style.md rule 2).' }));
const cryptoPatterns = [
  {
    group: ['@peculiar/*', 'sm-crypto*'],
    message: 'Only crypto/ may use cryptographic libraries (style.md rule 2).',
  },
];
const layer = (forbidden) =>
  forbidden.map((dir) => ({
    group: [`**/${dir}/**`, `**/${dir}`],
    message: `This layer must not import ${dir}/ (style.md rule 1: dependencies point one way).`,
  }));

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'demo/**', 'test-output/**', 'coverage/**', 'test/vectors/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: cryptoPaths,
          patterns: [...cryptoPatterns, ...layer(['crypto', 'inner-node', 'outer-node'])],
        },
      ],
    },
  },
  {
    files: ['crypto/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: layer(['inner-node', 'outer-node']) }],
    },
  },
  {
    files: ['inner-node/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: cryptoPaths, patterns: [...cryptoPatterns, ...layer(['outer-node'])] },
      ],
    },
  },
  {
    files: ['outer-node/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { paths: cryptoPaths, patterns: [...cryptoPatterns, ...layer(['inner-node'])] },
      ],
    },
  },
);
