// Licence against purpose: licences read from model cards, modelspec metadata and model_index.json;
// commercial purposes against non-commercial and use-restricted licences; scene diagnostics at the
// model and LoRA lines; unknown licences warned about.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkLicence,
  describeLicence,
  isCommercialPurpose,
  licenceDiagnostics,
  licenceFromModelCard,
  readFileLicence,
  readModelLicence,
  resolveScene,
} from '../../../src/engine/index';
import { writeSafetensors } from '../lora/loraFixtures';
import { modelDir } from '../../engine/modelUnderTest';

const tmp = mkdtempSync(join(tmpdir(), 'imgprompt-licence-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('where licences are read', () => {
  test('a Hugging Face model card front matter, with license: other deferring to license_name', () => {
    assert.equal(licenceFromModelCard('---\nlicense: creativeml-openrail-m\ntags: [a]\n---\n# x'), 'creativeml-openrail-m');
    assert.equal(licenceFromModelCard('---\nlicense: other\nlicense_name: flux-1-dev-non-commercial-license\n---\n'), 'flux-1-dev-non-commercial-license');
    assert.equal(licenceFromModelCard('# no front matter\nlicense: mit'), undefined);
    assert.equal(licenceFromModelCard('---\n[broken: yaml\n---\n'), undefined);
  });

  test('a LoRA: modelspec.license in its safetensors metadata, else its card', async () => {
    const withSpec = writeSafetensors(tmp, 'spec.safetensors', [{ name: 'w', dtype: 'F32', shape: [1], values: [1] }], { 'modelspec.license': 'CC-BY-NC-4.0' });
    assert.deepEqual(await readFileLicence(withSpec), { id: 'cc-by-nc-4.0', source: 'modelspec.license' });
    const withCard = writeSafetensors(tmp, 'card.safetensors', [{ name: 'w', dtype: 'F32', shape: [1], values: [1] }]);
    writeFileSync(join(tmp, 'card.md'), '---\nlicense: apache-2.0\n---\n');
    assert.deepEqual(await readFileLicence(withCard), { id: 'apache-2.0', source: 'model card' });
    const bare = writeSafetensors(tmp, 'bare.safetensors', [{ name: 'w', dtype: 'F32', shape: [1], values: [1] }]);
    assert.equal((await readFileLicence(bare)).id, 'unknown');
  });

  test('a model folder: README.md, then model_index.json, then modelspec; the embedded model is MIT', async () => {
    assert.deepEqual(await readModelLicence(modelDir), { id: 'mit', source: 'README.md' });
    const dir = join(tmp, 'folder');
    mkdirSync(join(dir, 'unet'), { recursive: true });
    assert.equal((await readModelLicence(dir)).id, 'unknown');
    writeSafetensors(join(dir, 'unet'), 'diffusion_pytorch_model.safetensors', [{ name: 'w', dtype: 'F32', shape: [1], values: [1] }], { 'modelspec.license': 'openrail++' });
    assert.deepEqual(await readModelLicence(dir), { id: 'openrail++', source: 'unet/diffusion_pytorch_model.safetensors (modelspec.license)' });
    writeFileSync(join(dir, 'model_index.json'), JSON.stringify({ _class_name: 'X', license: 'MIT' }));
    assert.deepEqual(await readModelLicence(dir), { id: 'mit', source: 'model_index.json' });
  });
});

describe('licence against purpose', () => {
  test('commercial purposes are the ones that say so', () => {
    assert.equal(isCommercialPurpose('hero image for a commercial landing page'), true);
    assert.equal(isCommercialPurpose('advertising banner'), true);
    assert.equal(isCommercialPurpose('figure 3 of a non-commercial research paper'), false);
    assert.equal(isCommercialPurpose(null), false);
  });

  test('FLUX.1 dev for a commercial purpose is an error quoting its terms; OpenRAIL-M a warning with its use restrictions', () => {
    const flux = checkLicence("the model 'flux-dev'", 'flux-1-dev-non-commercial-license', 'commercial product shot');
    assert.equal(flux?.severity, 'error');
    assert.match(flux?.message ?? '', /excludes commercial use.*Non-Commercial Purposes only/);
    const nc = checkLicence("the LoRA 'x'", 'cc-by-nc-4.0', 'marketing');
    assert.match(nc?.message ?? '', /"for NonCommercial purposes only"/);
    const rail = checkLicence("the model 'sd15'", 'creativeml-openrail-m', 'commercial');
    assert.equal(rail?.severity, 'warning');
    assert.match(rail?.message ?? '', /Attachment A/);
    assert.equal(checkLicence("the model 'sd15'", 'creativeml-openrail-m', 'a blog figure'), undefined);
    assert.equal(checkLicence("the model 'm'", 'mit', 'commercial'), undefined);
    assert.equal(checkLicence("the model 'm'", 'unknown', 'a blog figure')?.severity, 'warning');
    assert.equal(checkLicence("the model 'm'", 'some-custom-licence', 'a blog figure')?.severity, 'info');
    assert.match(describeLicence({ id: 'flux-1-dev-non-commercial-license', source: 'README.md' }), /FLUX\.1 \[dev\] Non-Commercial License, non-commercial only \(from README\.md\)/);
  });

  test('scene diagnostics sit on the model and LoRA lines', async () => {
    const project = join(tmp, 'project');
    const models = join(project, 'models');
    mkdirSync(models, { recursive: true });
    const copy = join(models, 'nc-model');
    cpSync(modelDir, copy, { recursive: true });
    writeFileSync(join(copy, 'README.md'), '---\nlicense: other\nlicense_name: flux-1-dev-non-commercial-license\n---\n# nc\n');
    writeFileSync(join(copy, 'loras', 'outline.md'), '# no licence here\n');
    const text = 'model: nc-model\nprompt: outline, a red circle\npurpose: commercial poster for a client\nloras:\n  - file: outline\n';
    const file = join(project, 's.imgprompt');
    writeFileSync(file, text);
    const resolved = resolveScene(text, { file, projectRoot: project, builtinModelsDir: models });
    const diagnostics = await licenceDiagnostics(resolved);
    assert.deepEqual(
      diagnostics.map((d) => [d.severity, d.code, d.range.start.line]),
      [
        ['error', 'licence-excludes-purpose', 0],
        ['warning', 'licence-unknown', 4],
      ],
    );
    // The embedded model is MIT with MIT LoRAs: nothing to say, whatever the purpose.
    const ok = resolveScene(text.replace('nc-model', 'tiny-shapes'), { file, projectRoot: project, builtinModelsDir: join(modelDir, '..') });
    assert.deepEqual(await licenceDiagnostics(ok), []);
  });
});
