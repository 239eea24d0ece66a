// Lint: typescript-eslint's recommended rules, sorted imports, and the project's layering: the product
// (producers, consumers, schemas, lib, verify, cli) never imports the tools (scripts, bench).
import js from '@eslint/js';
import simpleImportSort from 'eslint-plugin-simple-import-sort';
import tseslint from 'typescript-eslint';

const TOOL_IMPORTS = {
  patterns: [
    {
      group: ['**/scripts/**', '**/bench/**', '../scripts/*', '../../scripts/*', '../bench/*', '../../bench/*'],
      message: 'The product must not depend on the tools (scripts/, bench/): move the shared code into lib/.',
    },
  ],
};

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', 'dist-cli/', '.stack/', 'bench/results/', 'coverage/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'simple-import-sort': simpleImportSort },
    rules: {
      'simple-import-sort/imports': 'error',
      'simple-import-sort/exports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      'no-control-regex': 'off',
    },
  },
  {
    files: ['producers/**', 'consumers/**', 'schemas/**', 'lib/**', 'verify/**', 'cli/**', 'migrations/**'],
    rules: {
      'no-restricted-imports': ['error', TOOL_IMPORTS],
      'no-restricted-syntax': ['error', { selector: 'ImportExpression[source.value=/(^|\\/)(scripts|bench)\\//]', message: TOOL_IMPORTS.patterns[0].message }],
    },
  },
  {
    // Functions short enough to read at once; a longer one says why beside an inline exemption.
    files: [
      'consumers/**',
      'producers/**',
      'lib/**',
      'cli/**',
      'bench/**',
      'http/**',
      'verify/**',
      'schemas/**',
      'analytics/**',
      'dashboard/**',
      'ops/**',
      'migrations/**',
    ],
    rules: { 'max-lines-per-function': ['error', { max: 80, skipBlankLines: true, skipComments: true }] },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
  },
);
