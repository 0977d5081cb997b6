// Lint configuration: typescript-eslint's recommended rules plus a few that guard module boundaries.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['node_modules/**', 'coverage/**', '.ci/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', Buffer: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly', TextEncoder: 'readonly', TextDecoder: 'readonly', AbortController: 'readonly', fetch: 'readonly', Response: 'readonly', Request: 'readonly', Headers: 'readonly', queueMicrotask: 'readonly', structuredClone: 'readonly', crypto: 'readonly', performance: 'readonly', setImmediate: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/**'],
    ignores: ['src/main.ts', 'src/cli/**', 'src/demo/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['**/adapters/*/**'], message: 'the core depends only on adapters/contract.ts (and the composition root on adapters/registry.ts)' }] }],
    },
  },
  {
    files: ['src/protocol/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:net', 'node:http', 'node:fs', 'node:fs/*', 'ws', 'ioredis', 'bullmq', '../*'], message: 'src/protocol is pure: no IO and no imports from the rest of Causeway' }] }],
    },
  },
  {
    files: ['src/mock-hub/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['../crypto/*', '../hub/*', '../delivery/*', '../policy/*', '../media/*', '../http/*', '../../adapters/*'], message: 'the mock hub shares only src/protocol (and config loading helpers) with the sidecar' }] }],
    },
  },
);
