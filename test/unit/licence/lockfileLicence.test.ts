// Where a licence comes from, first found wins: the scene's `license:` (model only), the project's
// imgprompt.lock (Hugging Face / Civitai references and `local` project files), the model card, unknown.
// A scene's `license:` is recorded but not hashed; Civitai's permissions are judged against `purpose:`.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkLicence,
  componentLicence,
  describeLicence,
  findLockfileRoot,
  knownLicences,
  licenceDiagnostics,
  licenceTerms,
  lockedLicence,
  parseScene,
  recipeHash,
  resolveScene,
  sceneLicences,
} from '../../../src/engine/index';
import { modelDir } from '../../engine/modelUnderTest';

const tmp = mkdtempSync(join(tmpdir(), 'imgprompt-locklicence-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const NO_COMMERCIAL = 'Civitai permissions: commercial use: none; derivatives allowed; credit required; relicensing allowed';
const SELL_IMAGES = 'Civitai permissions: commercial use: Image, RentCivit; derivatives allowed; credit not required; relicensing allowed';

/** A project with the embedded model copied in (its README says MIT), a LoRA of its own, and a lockfile. */
function project(name: string, lock: unknown): { dir: string; models: string; lora: string } {
  const dir = join(tmp, name);
  const models = join(dir, 'models');
  mkdirSync(join(dir, 'loras'), { recursive: true });
  cpSync(modelDir, join(models, 'tiny-shapes'), { recursive: true });
  const lora = join(dir, 'loras', 'ink.safetensors');
  cpSync(join(modelDir, 'loras', 'outline.safetensors'), lora);
  if (lock !== undefined) writeFileSync(join(dir, 'imgprompt.lock'), typeof lock === 'string' ? lock : JSON.stringify(lock, null, 2));
  return { dir, models, lora };
}

function localEntry(file: string, license: string): Record<string, unknown> {
  const bytes = readFileSync(file);
  return { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), license, civitai: 'civitai:4711' };
}

describe('licences from imgprompt.lock', () => {
  test('a local entry (Civitai permissions) gives a project LoRA its licence, judged against a commercial purpose', async () => {
    const p = project('local', { lockfileVersion: 1, models: {} });
    writeFileSync(join(p.dir, 'imgprompt.lock'), JSON.stringify({ lockfileVersion: 1, models: {}, local: { 'loras/ink.safetensors': localEntry(p.lora, NO_COMMERCIAL) } }));
    const text = 'model: tiny-shapes\nprompt: a red circle\npurpose: commercial poster for a client\nloras:\n  - file: loras/ink.safetensors\n';
    const file = join(p.dir, 'scene.imgprompt');
    writeFileSync(file, text);
    const resolved = resolveScene(text, { file, projectRoot: p.dir, builtinModelsDir: p.models });
    const licences = await sceneLicences(resolved, p.dir);
    assert.deepEqual(licences.map((l) => [l.what, l.licence.id, l.licence.source]), [
      ['model', 'mit', 'README.md'],
      ['lora', NO_COMMERCIAL.toLowerCase(), 'imgprompt.lock (Civitai)'],
    ]);
    const diagnostics = await licenceDiagnostics(resolved, p.dir);
    assert.deepEqual(diagnostics.map((d) => [d.severity, d.code, d.range.start.line]), [['error', 'licence-excludes-purpose', 4]]);
    assert.match(diagnostics[0].message, /do not allow selling images generated with it \(commercial use: none\)/);
    // Without the project root the lockfile is found by walking up from the scene's folder.
    assert.deepEqual(await licenceDiagnostics(resolved), diagnostics);
    assert.match(describeLicence(licences[1].licence), /from imgprompt\.lock \(Civitai\)/);
  });

  test('an hf: or civitai: reference takes the lockfile entry licence over the model card', async () => {
    const p = project('refs', {
      lockfileVersion: 1,
      models: {
        'hf:org/model@main': { source: 'huggingface', repo: 'org/model', revision: 'main', commit: 'a'.repeat(40), license: 'openrail-m', files: {} },
        'civitai:99': { source: 'civitai', repo: '12', revision: '99', commit: '99', license: SELL_IMAGES, files: {} },
      },
    });
    const folder = join(p.models, 'tiny-shapes');
    assert.deepEqual(await componentLicence('hf:org/model@main', folder, true, p.dir), { id: 'openrail-m', source: 'imgprompt.lock (Hugging Face model card)' });
    assert.equal(lockedLicence(p.dir, 'civitai:99', p.lora)?.id, SELL_IMAGES.toLowerCase());
    // A reference the lockfile does not hold falls through to the model card.
    assert.deepEqual(await componentLicence('hf:org/other@main', folder, true, p.dir), { id: 'mit', source: 'README.md' });
    // A path outside the project is never matched against `local`.
    assert.equal(lockedLicence(p.dir, 'x', join(tmp, 'elsewhere.safetensors')), undefined);
  });

  test('a malformed lockfile says nothing here (pulling reports it); the model card still does', async () => {
    const p = project('broken', '{"lockfileVersion": 1, "models": {"hf:x@main": 7}}');
    assert.equal(lockedLicence(p.dir, 'hf:x@main', p.lora), undefined);
    assert.deepEqual(await componentLicence('hf:x@main', join(p.models, 'tiny-shapes'), true, p.dir), { id: 'mit', source: 'README.md' });
  });

  test('the lockfile is found up from the scene folder; a given project root wins', () => {
    const p = project('walk', { lockfileVersion: 1, models: {} });
    mkdirSync(join(p.dir, 'docs', 'figures'), { recursive: true });
    assert.equal(findLockfileRoot(join(p.dir, 'docs', 'figures', 's.imgprompt')), p.dir);
    assert.equal(findLockfileRoot(join(p.dir, 'docs', 's.imgprompt'), join(p.dir, 'docs')), join(p.dir, 'docs'));
  });

  test("Civitai's permissions: no Image use is non-commercial; Image with credit required is use-restricted", () => {
    assert.equal(licenceTerms(NO_COMMERCIAL)?.kind, 'non-commercial');
    assert.equal(licenceTerms(SELL_IMAGES)?.kind, 'permissive');
    assert.equal(licenceTerms(SELL_IMAGES.replace('credit not required', 'credit required'))?.kind, 'use-restricted');
    assert.equal(licenceTerms('Civitai permissions: commercial use: Rent, Sell; derivatives allowed')?.kind, 'non-commercial');
    assert.equal(checkLicence("the LoRA 'x'", NO_COMMERCIAL.toLowerCase(), 'a figure for the paper'), undefined);
  });
});

describe("the scene's license:", () => {
  const p = project('scene', { lockfileVersion: 1, models: {} });
  const file = join(p.dir, 's.imgprompt');
  const base = 'model: tiny-shapes\nprompt: a red circle\npurpose: advertising campaign\n';

  test('the ids the editor completes are the ones the policy judges, the schema examples among them', () => {
    const ids = knownLicences().map((l) => l.id);
    for (const id of ['openrail-m', 'flux-1-dev-non-commercial-license', 'mit']) assert.ok(ids.includes(id), id);
    for (const id of ids) assert.ok(licenceTerms(id), id);
    const examples = (JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'schemas', 'imgprompt.schema.json'), 'utf8')) as { properties: Record<string, { examples?: string[] }> }).properties.license.examples ?? [];
    assert.ok(examples.length > 0 && examples.every((e) => ids.includes(e)), examples.join(', '));
  });

  test('is read as a string and rejects other types at its line', () => {
    assert.equal(parseScene(`${base}license: openrail-m\n`).scene.license, 'openrail-m');
    const bad = parseScene(`${base}license: [mit]\n`);
    assert.deepEqual(bad.diagnostics.filter((d) => d.severity === 'error').map((d) => d.range.start.line), [3]);
  });

  test('overrides the model card, is judged against the purpose at its own line, and does not change the hash', async () => {
    const text = `${base}license: flux-1-dev-non-commercial-license\n`;
    const stated = resolveScene(text, { file, projectRoot: p.dir, builtinModelsDir: p.models });
    const plain = resolveScene(base, { file, projectRoot: p.dir, builtinModelsDir: p.models });
    assert.equal(stated.recipe.license, 'flux-1-dev-non-commercial-license');
    assert.equal(plain.recipe.license, undefined);
    assert.equal(recipeHash(stated.recipe), recipeHash(plain.recipe));
    const [model] = await sceneLicences(stated, p.dir);
    assert.deepEqual(model.licence, { id: 'flux-1-dev-non-commercial-license', source: "the scene's license:" });
    const diagnostics = await licenceDiagnostics(stated, p.dir);
    assert.deepEqual(diagnostics.map((d) => [d.severity, d.code, d.range.start.line]), [['error', 'licence-excludes-purpose', 3]]);
    // The MIT model card says nothing against advertising.
    assert.deepEqual(await licenceDiagnostics(plain, p.dir), []);
  });
});
