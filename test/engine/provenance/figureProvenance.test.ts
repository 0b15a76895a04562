// Figures rendered through the render service with provenance on, checked by independent readers: the
// C2PA manifest validated by the reference implementation in a separate process, the XMP by exiftool;
// tampering with pixels or recipe makes the manifest invalid; a re-render is byte-identical outside the
// C2PA chunk; an init image that carries its own manifest stays in the chain; the prompt log gets a row.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  createRenderService,
  encodePngChunks,
  hasC2paChunk,
  LOCAL_IDENTITY_FILE,
  parsePngChunks,
  parsePromptLog,
  PROMPT_LOG_PATH,
  readC2pa,
  readImageMetadata,
  withoutC2paChunk,
  WATERMARK_ALGORITHM,
  type RenderService,
} from '../../../src/engine/index';
import { modelDir, modelName, tempProject } from '../modelUnderTest';

const childReader = join(__dirname, 'readC2paInChildProcess.mjs');

interface ChildReport {
  state: string;
  success: string[];
  failure: string[];
  assertions: string[];
  softBinding: { alg: string; blocks: { scope: unknown; value: string }[] } | null;
  actions: { action: string; digitalSourceType: string; softwareAgent: { name: string; version: string } }[];
  signer: { alg: string; common_name: string; issuer: string };
  ingredients: { title: string; relationship: string; active_manifest: string | null }[];
}

function readInChildProcess(file: string, anchors?: string): ChildReport {
  const out = execFileSync(process.execPath, [childReader, file, ...(anchors ? [anchors] : [])], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(out) as ChildReport;
}

/** Rewrites one chunk's data (recomputing its CRC, as a careful tamperer would). */
function tamper(png: Buffer, type: string, change: (data: Buffer) => Buffer): Buffer {
  return encodePngChunks(parsePngChunks(png).map((c) => (c.type === type ? { type, data: change(Buffer.from(c.data)) } : c)));
}

describe('figure provenance on ' + modelName, () => {
  let engine: RenderService;
  const project = tempProject();
  const configDir = mkdtempSync(join(tmpdir(), 'imgprompt-identity-'));
  const scene = (extra = '') => `model: ${modelName}\nprompt: a large red circle on the left, blue background\nseed: 42\nsteps: 4\npurpose: test figure\n${extra}`;

  const render = async (name: string, text: string, force = true) => {
    const file = project.write(name, text);
    const plan = await engine.plan({ file, context: { projectRoot: project.dir, builtinModelsDir: dirname(modelDir) } });
    const [outcome] = await engine.execute(plan, { force });
    return { job: outcome.job, png: readFileSync(outcome.job.output) };
  };

  before(async () => {
    engine = await createRenderService({ threads: 2, provenance: { identity: { identityDir: configDir }, promptWriter: 'Ada Lovelace <ada@example.org>' } });
  });
  after(async () => {
    await engine.dispose();
    project.cleanup();
    rmSync(configDir, { recursive: true, force: true });
  });

  test('every figure carries a C2PA manifest that the reference reader validates in a separate process', async () => {
    const { job, png } = await render('fig.imgprompt', scene());
    assert.ok(hasC2paChunk(png), 'no caBX chunk');
    // The local identity was made on first use, in the configured folder.
    assert.ok(readFileSync(join(configDir, LOCAL_IDENTITY_FILE), 'utf8').includes('BEGIN PRIVATE KEY'));
    const child = readInChildProcess(job.output);
    assert.equal(child.state, 'Valid');
    assert.deepEqual(child.failure, ['signingCredential.untrusted'].filter((c) => child.failure.includes(c)));
    for (const code of ['claimSignature.validated', 'assertion.dataHash.match', 'assertion.hashedURI.match']) assert.ok(child.success.includes(code), `${code} did not run: ${child.success.join(', ')}`);
    assert.equal(child.actions[0].action, 'c2pa.created');
    assert.equal(child.actions[0].digitalSourceType, 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia');
    assert.equal(child.actions[0].softwareAgent.name, 'imgprompt');
    assert.equal(child.signer.alg, 'Ed25519');
    for (const label of ['org.imgprompt.recipe', 'org.imgprompt.models', 'org.imgprompt.pixels']) assert.ok(child.assertions.includes(label), label);
    // The invisible watermark is bound to the manifest: its payload (the recipe hash's first 32 bits) as a soft binding.
    const payload = job.metadata.watermark?.payload;
    assert.ok(payload, 'the figure is watermarked by default');
    assert.equal(child.softBinding?.alg, WATERMARK_ALGORITHM);
    assert.equal(Buffer.from(child.softBinding?.blocks[0].value ?? '', 'base64').toString('hex'), payload);
    // With the local CA as trust anchor the same reader says Trusted: the chain is a real one.
    const anchors = join(configDir, 'ca.pem');
    const caPem = readFileSync(join(configDir, LOCAL_IDENTITY_FILE), 'utf8').match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g)?.[1];
    writeFileSync(anchors, caPem ?? '');
    assert.equal(readInChildProcess(job.output, anchors).state, 'Trusted');
    // Our own reading says the same, and says the issuer is on no trust list.
    const ours = await readC2pa(png, 'image/png');
    assert.equal(ours.state, 'valid');
    assert.equal(ours.pixelsChanged, false);
    assert.equal(ours.recipeChanged, false);
    assert.match(ours.summary, /issuer not on a trust list/);
  });

  test('the models assertion names the model with its sha256 and licence', async () => {
    const { png, job } = await render('fig.imgprompt', scene(), false);
    const report = await readC2pa(png, 'image/png');
    assert.deepEqual((report.recipe as { hash: string }).hash, job.hash);
  });

  test("the models assertion carries the scene's license: and a locked project LoRA's licence; neither changes the hash", { skip: existsSync(join(modelDir, 'loras', 'outline.safetensors')) ? false : 'the model has no outline LoRA' }, async () => {
    const lora = join(project.dir, 'loras', 'ink.safetensors');
    mkdirSync(dirname(lora), { recursive: true });
    copyFileSync(join(modelDir, 'loras', 'outline.safetensors'), lora);
    const bytes = readFileSync(lora);
    const permissions = 'Civitai permissions: commercial use: Image; derivatives allowed; credit required; relicensing allowed';
    const lock = { lockfileVersion: 1, models: {}, local: { 'loras/ink.safetensors': { size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), license: permissions } } };
    writeFileSync(join(project.dir, 'imgprompt.lock'), JSON.stringify(lock));
    try {
      const lorad = scene('loras:\n  - file: loras/ink.safetensors\n');
      const { job, png } = await render('licensed.imgprompt', `${lorad}license: openrail-m\n`);
      const models = (await readC2pa(png, 'image/png')).models as { models: { role: string; licence: string }[] };
      assert.deepEqual(models.models.map((m) => [m.role, m.licence]), [['model', 'openrail-m'], ['lora', permissions.toLowerCase()]]);
      assert.equal((readImageMetadata(png).recipe as { license?: string }).license, 'openrail-m');
      const plain = await engine.plan({ file: project.write('plain.imgprompt', lorad), context: { projectRoot: project.dir, builtinModelsDir: dirname(modelDir) } });
      assert.equal(plain.jobs[0].job.hash, job.hash);
    } finally {
      rmSync(join(project.dir, 'imgprompt.lock'), { force: true });
    }
  });

  test('tampered pixels or recipe make the manifest invalid, and say which', async () => {
    const { png } = await render('fig.imgprompt', scene(), false);
    const pixels = tamper(png, 'IDAT', (d) => {
      // Flip a byte inside the deflate stream's stored data: the picture changes, the chunk stays valid.
      d[d.length - 10] ^= 0x01;
      return d;
    });
    const a = await readC2pa(pixels, 'image/png');
    assert.equal(a.state, 'invalid');
    assert.equal(a.pixelsChanged, true);
    assert.ok(a.failures.some((f) => f.code === 'assertion.dataHash.mismatch'), JSON.stringify(a.failures));
    assert.match(a.summary, /image data changed after signing/);
    const recipe = tamper(png, 'iTXt', (d) => Buffer.from(d.toString('latin1').replace('"seed":"42"', '"seed":"43"'), 'latin1'));
    assert.notDeepEqual(recipe, png, 'the recipe chunk was not changed');
    const b = await readC2pa(recipe, 'image/png');
    assert.equal(b.state, 'invalid');
    assert.equal(b.recipeChanged, true);
    assert.equal(b.pixelsChanged, false);
    assert.match(b.summary, /recipe changed after signing/);
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-tampered-'));
    try {
      writeFileSync(join(dir, 'p.png'), pixels);
      assert.equal(readInChildProcess(join(dir, 'p.png')).state, 'Invalid');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a re-render is byte-identical outside the C2PA chunk and states the same manifest', async () => {
    const first = await render('fig.imgprompt', scene());
    // Rendered where no figure is on disk to keep: a new signature of the same statements.
    rmSync(first.job.output);
    const fresh = (await engine.render(first.job)).png;
    assert.ok(withoutC2paChunk(first.png).equals(withoutC2paChunk(fresh)), 'bytes outside caBX differ');
    // Why the promise excludes the caBX chunk: c2pa-rs salts each assertion randomly, so even a
    // deterministic Ed25519 signature of the same statements gives other bytes.
    assert.ok(!first.png.equals(fresh), 'two signatures were expected to differ in their salts');
    writeFileSync(first.job.output, first.png);
    const [a, b] = [await readC2pa(first.png, 'image/png'), await readC2pa(fresh, 'image/png')];
    assert.equal(a.label, b.label);
    assert.deepEqual(a.assertions, b.assertions);
    assert.deepEqual(a.recipe, b.recipe);
    assert.deepEqual(a.models, b.models);
  });

  test('a forced re-render over the same figure keeps its signature: the file is byte-identical', async () => {
    const first = await render('fig.imgprompt', scene());
    const second = await render('fig.imgprompt', scene());
    assert.ok(second.png.equals(first.png), 'a forced re-render changed the file');
    // A figure on disk whose manifest was tampered with is not kept: it is signed afresh and valid again.
    writeFileSync(first.job.output, tamper(first.png, 'caBX', (d) => {
      d[d.length - 100] ^= 0xff;
      return d;
    }));
    const third = await render('fig.imgprompt', scene());
    assert.ok(!third.png.equals(first.png));
    assert.equal((await readC2pa(third.png, 'image/png')).state, 'valid');
  });

  test('img2img: composite source type, and an init image with its own manifest stays in the chain', async () => {
    const { png } = await render('fig.imgprompt', scene(), false);
    writeFileSync(join(project.dir, 'init.png'), png);
    const { job } = await render('derived.imgprompt', scene('init:\n  image: init.png\n  strength: 0.5\n'));
    const child = readInChildProcess(job.output);
    assert.equal(child.state, 'Valid');
    assert.equal(child.actions[0].digitalSourceType, 'http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia');
    assert.equal(child.ingredients.length, 1);
    assert.equal(child.ingredients[0].title, 'init.png');
    assert.equal(child.ingredients[0].relationship, 'inputTo');
    assert.ok(child.ingredients[0].active_manifest, 'the init image lost its manifest');
    const ours = await readC2pa(readFileSync(job.output), 'image/png');
    assert.equal(ours.ingredients[0].manifest?.generator?.startsWith('imgprompt'), true);
    assert.equal(ours.ingredients[0].manifest?.label, (await readC2pa(png, 'image/png')).label);
  });

  test('exiftool reads the IPTC 2025.1 AI fields and Dublin Core title/description', { skip: exiftoolSkip() }, async () => {
    const { job } = await render('fig.imgprompt', scene(), false);
    const [tags] = JSON.parse(execFileSync('exiftool', ['-a', '-u', '-G1', '-j', job.output], { encoding: 'utf8' })) as Record<string, unknown>[];
    // exiftool 12.57 predates IPTC 2025.1 but reads the Iptc4xmpExt namespace (group XMP-iptcExt) by property name.
    assert.equal(tags['XMP-iptcExt:DigitalSourceType'], 'http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia');
    assert.equal(tags['XMP-iptcExt:AISystemUsed'], 'imgprompt');
    assert.equal(tags['XMP-iptcExt:AISystemVersionUsed'], job.metadata.engine.version);
    assert.equal(tags['XMP-iptcExt:AIPromptInformation'], 'a large red circle on the left, blue background');
    assert.equal(tags['XMP-iptcExt:AIPromptWriterName'], 'Ada Lovelace <ada@example.org>');
    assert.equal(tags['XMP-dc:Title'], 'fig');
    assert.equal(tags['XMP-dc:Description'], 'a large red circle on the left, blue background');
    // exiftool also decodes the C2PA store's CBOR: the action it reads is ours.
    assert.equal(tags['CBOR:ActionsAction'], 'c2pa.created');
    // The figure's audience (#21), under our own XMP namespace.
    assert.equal(tags['XMP-imgprompt:Audience'], 'team');
  });

  test('the prompt log has one row per render with hashes and who', async () => {
    const before = parsePromptLog(readFileSync(join(project.dir, PROMPT_LOG_PATH), 'utf8')).length;
    const { job, png } = await render('fig.imgprompt', scene());
    const rows = parsePromptLog(readFileSync(join(project.dir, PROMPT_LOG_PATH), 'utf8'));
    assert.equal(rows.length, before + 1);
    const row = rows[rows.length - 1];
    assert.equal(row.scene, 'fig.imgprompt');
    assert.equal(row.output, 'fig.png');
    assert.equal(row['recipe hash'], job.hash);
    assert.match(row['model hashes'], new RegExp(`^${modelName}@[0-9a-f]{16}$`));
    assert.equal(row['output sha256'], execFileSync('sha256sum', [job.output], { encoding: 'utf8' }).split(' ')[0]);
    assert.equal(row.who, 'Ada Lovelace <ada@example.org>');
    assert.ok(png.length > 0);
    assert.match(row['time (UTC)'], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });
});

/** exiftool must run in CI; elsewhere a machine without it skips this one test and says why. */
function exiftoolSkip(): string | false {
  if (spawnSync('exiftool', ['-ver']).status === 0) return false;
  if (process.env.CI) return false;
  return 'exiftool is not installed (apt-get install libimage-exiftool-perl); CI installs it';
}
