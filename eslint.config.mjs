// Lint: mostly the TypeScript compiler's job; this file exists to enforce the dependency direction
// webview → shared ← extension → engine (engine, cli and webview never import `vscode`; the webview
// never imports Node modules; the extension imports the engine only through src/engine/editor.ts).
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeModules = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const noVscode = { name: 'vscode', message: 'Only src/extension may import vscode.' };

export default tseslint.config(
  { ignores: ['bin/**', 'out/**', 'node_modules/**', '.vscode-test/**', 'test-results/**', 'models/**', 'tools/**', '.cache/**'] },
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['src/engine/**/*.ts', 'src/cli/**/*.ts', 'src/shared/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [noVscode],
        patterns: [{ group: ['**/extension/**', '**/webview/**'], message: 'The engine, CLI and shared code must not depend on the extension or the webview.' }],
      }],
    },
  },
  {
    files: ['src/webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [noVscode, ...nodeModules.map((name) => ({ name, message: 'The webview runs in a browser: no Node modules.' }))],
        patterns: [{ group: ['**/engine/**', '**/extension/**', '**/cli/**'], message: 'The webview may import only src/shared.' }],
      }],
    },
  },
  {
    files: ['src/extension/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [
          { group: ['**/webview/**', '**/cli/**'], message: 'The extension talks to the webview only through src/shared/protocol.ts.' },
          { group: ['**/engine/**', '!**/engine/editor'], message: 'The extension reaches the engine only through its public entry src/engine/editor.ts (no onnxruntime or sharp in the extension host).' },
        ],
      }],
    },
  },
);
