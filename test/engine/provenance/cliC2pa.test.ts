// The CLI's provenance: `render` signs (identity in IMGPROMPT_CONFIG_DIR), `inspect` prints the C2PA
// state and the checks that ran, `verify` fails a figure whose pixels changed after signing, and
// IMGPROMPT_C2PA=0 / IMGPROMPT_PROMPT_LOG=0 turn signing and the log off; a machine without the C2PA
// binary still renders, unsigned, and says so.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodePngChunks, hasC2paChunk, parsePngChunks } from '../../../src/engine/index';
import { repoRoot, tempProject } from '../modelUnderTest';

const cli = join(repoRoot, 'out', 'cli.js');
const project = tempProject();
const env = { ...process.env, CI: 'true', IMGPROMPT_CACHE_DIR: join(project.dir, '.cache'), IMGPROMPT_CONFIG_DIR: join(project.dir, '.config'), IMGPROMPT_PROMPT_WRITER: 'Ada' };
const run = (args: string[], extra: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [cli, ...args], { cwd: project.dir, encoding: 'utf8', env: { ...env, ...extra } });

before(() => {
  if (!existsSync(cli)) assert.equal(spawnSync(process.execPath, [join(repoRoot, 'esbuild.mjs')], { cwd: repoRoot }).status, 0);
});
after(() => project.cleanup());

test('render signs, inspect shows the state, verify catches changed pixels', () => {
  project.write('c.imgprompt', 'model: tiny-shapes\nprompt: a large yellow square\nseed: 9\nsteps: 4\n');
  assert.equal(run(['render', 'c.imgprompt']).status, 0);
  const inspect = run(['inspect', 'c.png']);
  assert.equal(inspect.status, 0, inspect.stderr);
  assert.match(inspect.stdout, /c2pa: valid; signed by imgprompt local signer .*issuer not on a trust list/);
  assert.match(inspect.stdout, /checks run +.*claimSignature\.validated.*assertion\.dataHash\.match/);
  assert.match(inspect.stdout, /image data +as signed/);
  const json = JSON.parse(run(['inspect', '--json', 'c.png']).stdout) as { c2pa: { state: string } }[];
  assert.equal(json[0].c2pa.state, 'valid');
  assert.equal(run(['verify', 'c.imgprompt']).status, 0);
  // Change one pixel byte inside the deflate stream (chunk CRC recomputed): the recipe still matches.
  const png = readFileSync(join(project.dir, 'c.png'));
  const tampered = encodePngChunks(parsePngChunks(png).map((c) => (c.type === 'IDAT' ? { type: 'IDAT', data: Buffer.from(c.data).fill(c.data[c.data.length - 12] ^ 1, c.data.length - 12, c.data.length - 11) } : c)));
  writeFileSync(join(project.dir, 'c.png'), tampered);
  const verify = run(['verify', 'c.imgprompt']);
  assert.equal(verify.status, 1);
  assert.match(verify.stdout, /c\.png: C2PA invalid: the image data changed after signing \(assertion\.dataHash\.mismatch/);
  assert.match(run(['inspect', 'c.png']).stdout, /image data +CHANGED after signing/);
});

test('IMGPROMPT_C2PA=0 writes no manifest; IMGPROMPT_PROMPT_LOG=0 no log row; --require-c2pa then fails verify', () => {
  project.write('u.imgprompt', 'model: tiny-shapes\nprompt: a small red circle\nseed: 2\nsteps: 3\n');
  const logFile = join(project.dir, '.imgprompt', 'prompt-log.md');
  const before = existsSync(logFile) ? readFileSync(logFile, 'utf8') : '';
  assert.equal(run(['render', 'u.imgprompt'], { IMGPROMPT_C2PA: '0', IMGPROMPT_PROMPT_LOG: '0' }).status, 0);
  assert.equal(hasC2paChunk(readFileSync(join(project.dir, 'u.png'))), false);
  assert.equal(existsSync(logFile) ? readFileSync(logFile, 'utf8') : '', before);
  const plain = run(['verify', 'u.imgprompt']);
  assert.equal(plain.status, 0);
  assert.match(plain.stderr, /u\.png: note: no C2PA manifest/);
  const strict = run(['verify', '--require-c2pa', 'u.imgprompt']);
  assert.equal(strict.status, 1);
  assert.match(strict.stdout, /u\.png: no C2PA manifest/);
});

test('where the C2PA binary cannot load, the figure is still written, unsigned, with a warning saying why', () => {
  project.write('n.imgprompt', 'model: tiny-shapes\nprompt: a small blue circle\nseed: 4\nsteps: 2\n');
  // The binding's own override of its binary's path, pointed at nothing: as on a platform it has no binary for.
  const result = run(['render', 'n.imgprompt'], { C2PA_LIBRARY_PATH: join(project.dir, 'missing.node') });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stderr, /n\.imgprompt: warning: the C2PA library \(@contentauth\/c2pa-node\) could not be loaded: .*; the figure has no C2PA manifest/);
  assert.equal(hasC2paChunk(readFileSync(join(project.dir, 'n.png'))), false);
});
