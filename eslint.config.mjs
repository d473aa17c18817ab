// ESLint: typescript-eslint's type-aware rules catch what matters most in a Node-RED pack — a promise nobody
// awaits or catches becomes an unhandled rejection that can stop Node-RED. Formatting is Prettier's job.
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import globals from 'globals';
import stylistic from '@stylistic/eslint-plugin';

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.node-red-data/**', 'scripts/*.js', 'eslint.config.mjs'] },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // A function that returns a promise reports every error by rejecting, argument errors included: an `async`
      // function without `await` is how this code turns a synchronous throw into a rejection, and how test fakes
      // implement promise-returning interfaces.
      '@typescript-eslint/require-await': 'off',
      // Node-RED's own nodes name the node `node` in their constructor functions (`const node = this`).
      '@typescript-eslint/no-this-alias': ['error', { allowedNames: ['node'] }],
    },
  },
  {
    // Plain CommonJS (the container's Node-RED settings, test fixtures) is outside the TypeScript project.
    files: ['**/*.js', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      sourceType: 'commonjs',
      globals: globals.node,
    },
    rules: { ...tseslint.configs.disableTypeChecked.rules, '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
  {
    // Prettier wraps code at 120 columns but never breaks a comment or a string: this keeps comments within 120 too
    // (after eslint-config-prettier, which turns max-len off).
    // Strings, template literals, URLs and regular expressions may run longer (test titles, routes, JSON flows).
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/max-len': [
        'error',
        {
          code: 120,
          comments: 120,
          ignoreStrings: true,
          ignoreTemplateLiterals: true,
          ignoreUrls: true,
          ignoreRegExpLiterals: true,
        },
      ],
    },
  },
);
