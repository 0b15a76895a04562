// Issue #15, defect 11 for the render path: render, verify and watch print paths, scene diagnostics and
// warnings that come from the workspace; an escape sequence in any of them must reach the terminal as
// visible text, never as a control sequence.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildCli } from './cliProcess';

const cli = buildCli();
const dir = mkdtempSync(join(tmpdir(), 'imgprompt-escape-'));
after(() => {
  cli.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

test('render and verify print a scene path and a YAML key with escape sequences escaped', () => {
  mkdirSync(join(dir, '.git'));
  const name = 'evil\x1b[2J\x1b]0;owned\x07.imgprompt';
  writeFileSync(join(dir, name), 'model: tiny-shapes\nprompt: a red circle\n"bad\x1b[31mkey": 1\n');
  for (const command of ['render', 'verify']) {
    const result = cli.run(dir, [command, name]);
    const output = result.stdout + result.stderr;
    assert.equal(result.status, 1, output);
    assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(output.replace(/\r?\n/g, '')), `${command} printed a raw control character: ${JSON.stringify(output)}`);
    assert.match(output, /evil\\x1b\[2J/, `${command}: the path is shown, escaped`);
    assert.match(output, /bad\\x1b\[31mkey/, `${command}: the key is shown, escaped`);
  }
});
