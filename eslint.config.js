// ESLint (flat config): type-aware typescript-eslint for the TypeScript, plain rules for the
// benchmark and example scripts; formatting is Prettier's (eslint-config-prettier turns off the
// rules it owns).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', 'coverage/**', 'bench/results/**', 'test-artifacts/**', 'test/browser/dist/**'] },
  js.configs.recommended,
  {
    files: ['**/*.ts', '**/*.tsx'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      parserOptions: {
        // The SDK's specs (and their kits) and the browser test page are outside every build tsconfig: the root one types them.
        projectService: {
          allowDefaultProject: ['sdk/src/*.spec.ts', 'sdk/src/*.spec-kit.ts', 'sdk/src/react/*.spec.tsx'],
          defaultProject: 'tsconfig.json',
          // One per SDK spec file (a dozen); the default of 8 is a guard against globs that match a whole tree.
          maximumDefaultProjectFileMatchCount_THIS_WILL_SLOW_DOWN_LINTING: 24,
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // The protocol's enums name wire values: comparing a type read off the wire with them is the point.
      '@typescript-eslint/no-unsafe-enum-comparison': 'off',
      // In-memory stores implement the same async contracts as the Redis ones, with nothing to await.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    files: ['sdk/src/react/**/*.ts', 'sdk/src/react/**/*.tsx', 'test/browser/**/*.tsx'],
    plugins: { 'react-hooks': reactHooks },
    rules: { 'react-hooks/rules-of-hooks': 'error', 'react-hooks/exhaustive-deps': 'error' },
  },
  {
    // Tests read frames and responses as parsed JSON (`any` on purpose): asserting on them is the point.
    files: ['test/**/*.ts', '**/*.spec.ts', '**/*.spec.tsx'],
    rules: {
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    files: ['**/*.mjs', '**/*.js'],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    // The house's size budgets: a file that outgrows them is split in the same change.
    files: ['**/*.ts', '**/*.tsx', '**/*.mjs'],
    rules: { 'max-lines': ['error', { max: 400 }] },
  },
  {
    // Tests are describe blocks around many cases: the function budget is for code that runs in production.
    files: [
      'src/**/*.ts',
      'sdk/src/**/*.ts',
      'sdk/src/**/*.tsx',
      'console/src/**/*.ts',
      'console/src/**/*.tsx',
      'bench/**/*.mjs',
      'examples/**/*.mjs',
      'scripts/**/*.mjs',
    ],
    ignores: ['**/*.spec.ts', '**/*.spec.tsx', '**/*.spec-kit.ts'],
    rules: { 'max-lines-per-function': ['error', { max: 80 }] },
  },
  prettier,
);
