// The editor's route to Content Credentials: the bundled render worker (out/worker.js) signs figures
// with the provenance settings it is configured with, and reads a figure's C2PA manifest on request;
// the panel's view of that report names state, signer, changes and ingredients.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { RenderWorkerClient } from '../../../src/engine/index';
import { c2paView } from '../../../src/extension/provenance/c2paView';
import { modelDir, modelName, repoRoot, tempProject } from '../modelUnderTest';

const workerScript = join(repoRoot, 'out', 'worker.js');
const project = tempProject();
const config = mkdtempSync(join(tmpdir(), 'imgprompt-worker-identity-'));
let client: RenderWorkerClient;

before(() => {
  if (!existsSync(workerScript)) throw new Error('out/worker.js is missing: run `npm run build` first');
  client = new RenderWorkerClient({ workerScript, threads: 2, provenance: { identity: { identityDir: config }, promptWriter: 'Grace Hopper', promptLog: false } });
});
after(async () => {
  await client.dispose();
  project.cleanup();
  rmSync(config, { recursive: true, force: true });
});

test('the worker signs what it renders and reads manifests back for the panel', async () => {
  const file = project.write('w.imgprompt', `model: ${modelName}\nprompt: a small green triangle\nseed: 5\nsteps: 3\n`);
  const result = await client.render({ scene: { file, projectRoot: project.dir, modelSearchPaths: [], builtinModelsDir: dirname(modelDir) }, force: true });
  const output = result.jobs[0].output;
  const report = await client.readC2pa(output);
  assert.equal(report.state, 'valid');
  assert.equal(report.recipeChanged, false);
  const view = c2paView(report);
  assert.match(view.summary, /^valid; signed by imgprompt local signer/);
  assert.deepEqual(
    view.rows.filter((r) => ['Trust', 'Image data', 'Recipe'].includes(r.label)),
    [
      { label: 'Trust', value: 'issuer not on a trust list' },
      { label: 'Image data', value: 'as signed' },
      { label: 'Recipe', value: 'as signed' },
    ],
  );
  // The prompt log was turned off by the configuration; the XMP names the configured prompt writer.
  assert.equal(existsSync(join(project.dir, '.imgprompt')), false);
  assert.ok(readFileSync(output, 'latin1').includes('Iptc4xmpExt:AIPromptWriterName="Grace Hopper"'));
  // An image derived from it lists it as an ingredient with its own manifest.
  writeFileSync(join(project.dir, 'start.png'), readFileSync(output));
  const derived = project.write('d.imgprompt', `model: ${modelName}\nprompt: a small green triangle\nseed: 6\nsteps: 3\ninit:\n  image: start.png\n  strength: 0.6\n`);
  const second = await client.render({ scene: { file: derived, projectRoot: project.dir, modelSearchPaths: [], builtinModelsDir: dirname(modelDir) }, force: true });
  const tree = c2paView(await client.readC2pa(second.jobs[0].output)).ingredients;
  assert.equal(tree.length, 1);
  assert.match(tree[0], /^start\.png \(inputTo\): signed by imgprompt local signer .*made with imgprompt/);
  // A missing file is an error, not a hang.
  await assert.rejects(client.readC2pa(join(project.dir, 'nope.png')), /ENOENT|no such file/);

  // The panel's watermark search runs in the worker too: the pixels carry the recipe hash's first 32 bits.
  const found = await client.detectWatermark(output);
  assert.equal(found.detected, true);
  assert.equal(found.payload, result.jobs[0].hash.replace(/^sha256:/, '').slice(0, 8));
  writeFileSync(join(project.dir, 'notes.png'), 'not an image');
  await assert.rejects(client.detectWatermark(join(project.dir, 'notes.png')), /not an image that can be decoded/);
});
