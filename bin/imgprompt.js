#!/usr/bin/env node
// Entry point of the `imgprompt` command: the bundled CLI lives in out/ (built by `npm ci` via "prepare").
'use strict';
const { existsSync } = require('node:fs');
const { join } = require('node:path');
const cli = join(__dirname, '..', 'out', 'cli.js');
if (!existsSync(cli)) {
  process.stderr.write('imgprompt: out/cli.js is missing; run `npm run build` first.\n');
  process.exit(2);
}
require(cli);
