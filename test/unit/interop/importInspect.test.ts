// The `inspect` and `import` commands end to end (through the CLI dispatcher), on real ComfyUI PNGs and on
// small PNGs made for these tests (test/fixtures/png).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { main } from '../../../src/cli/main';
import type { CliIO } from '../../../src/cli/command';
import { parseScene } from '../../../src/engine/scene/parseScene';
import { sceneFromMetadata } from '../../../src/engine/interop/sceneFromMetadata';
import { metadataFromRecipe } from '../../../src/engine/interop/imgprompt';
import { encodePngWithMetadata } from '../../../src/engine/output/encodePng';

const PNGS = fileURLToPath(new URL('../../fixtures/png/', import.meta.url));
const COMFY = fileURLToPath(new URL('../../../../shared/fixtures/comfyui/', import.meta.url));
const skipComfy = existsSync(COMFY) ? false : `ComfyUI fixtures not found at ${COMFY}`;

async function cli(args: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: false, cwd, env: {} };
  const code = await main(args, io, new AbortController().signal);
  return { code, out: out.join(''), err: err.join('') };
}

function workdir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'imgprompt-import-'));
  for (const name of readdirSync(PNGS)) copyFileSync(join(PNGS, name), join(dir, name));
  return dir;
}

/** The scene parses with the project's own scene parser without errors, and as plain YAML. */
function parsedScene(text: string): Record<string, unknown> {
  const errors = parseScene(text).diagnostics.filter((d) => d.severity === 'error');
  assert.deepEqual(errors.map((d) => d.message), [], text);
  return parse(text, { intAsBigInt: true }) as Record<string, unknown>;
}

describe('imgprompt inspect', () => {
  test('prints the A1111 reading as a table, with LoRAs and unmapped keys', async () => {
    const { code, out } = await cli(['inspect', join(PNGS, 'a1111.png')], PNGS);
    assert.equal(code, 0);
    assert.match(out, /a1111\.png: AUTOMATIC1111 infotext metadata\n/);
    assert.match(out, /\n {2}prompt +a lighthouse on a cliff, \(storm clouds:1\.2\),\n {2} +dramatic lighting\n/);
    assert.match(out, /\n {2}sampler +dpmpp_2m, karras\n/);
    assert.match(out, /\n {2}loras +wavesXL @ 0\.7 \(0123456789ab\)\n {2} +film grain @ 1 \(ba9876543210\)\n/);
    assert.match(out, /\n {4}Hires upscaler +Latent \(nearest-exact\)\n/);
    assert.match(out, /disclosure +no AI-generated disclosure/);
  });

  test('--json gives exact 64-bit seeds and the provenance of our own PNGs', async () => {
    const dir = workdir();
    try {
      const px = new Uint8Array(4 * 4 * 3).fill(90);
      const recipe = { prompt: 'p', seed: '18446744073709551615', sampler: 'euler', model: { ref: 'tiny-shapes' }, hash: 'abc123', engine: { version: '0.1.0', onnxruntime: '1.30.0' }, rng: 'cpu' };
      writeFileSync(join(dir, 'ours.png'), await encodePngWithMetadata({ data: px, width: 4, height: 4, channels: 3 }, recipe));
      const { code, out } = await cli(['inspect', '--json', 'ours.png', 'invokeai.png'], dir);
      assert.equal(code, 0);
      assert.match(out, /"seed": 18446744073709551615,/);
      const reports = JSON.parse(out.replace(/"seed": (\d+)/g, '"seed": "$1"')) as { file: string; metadata: { source: string; seed: string }; provenance: Record<string, unknown> }[];
      assert.deepEqual(reports.map((r) => [r.file, r.metadata.source, r.metadata.seed]), [
        ['ours.png', 'imgprompt', '18446744073709551615'],
        ['invokeai.png', 'invokeai', '18446744073709551615'],
      ]);
      assert.equal(reports[0].provenance.aiGenerated, true);
      assert.equal(reports[0].provenance.recipeHash, 'abc123');
      assert.equal(reports[0].provenance.engineVersion, '0.1.0');
      const human = await cli(['inspect', 'ours.png'], dir);
      assert.match(human.out, /disclosure +AI-generated \(IPTC DigitalSourceType trainedAlgorithmicMedia\)/);
      assert.match(human.out, /recipe hash +abc123/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('says clearly when a PNG has no metadata, and fails naming a non-PNG', async () => {
    const none = await cli(['inspect', 'no-metadata.png'], PNGS);
    assert.equal(none.code, 0);
    assert.match(none.out, /^no-metadata\.png: no generation metadata found \(no text chunks\)/);
    const bad = await cli(['inspect', 'no-metadata.png', 'not-a-png.png'], PNGS);
    assert.equal(bad.code, 1);
    assert.match(bad.err, /not-a-png\.png: not a PNG file/);
    const missing = await cli(['inspect', 'nope.png'], PNGS);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /nope\.png: cannot read file \(ENOENT\)/);
    assert.equal((await cli(['inspect'], PNGS)).code, 2);
    assert.equal((await cli(['inspect', '--bogus', 'x.png'], PNGS)).code, 2);
  });
});

describe('imgprompt import', () => {
  test('A1111: writes a valid scene beside the PNG, comments keep what does not map, never overwrites', async () => {
    const dir = workdir();
    try {
      const first = await cli(['import', 'a1111.png'], dir);
      assert.equal(first.code, 0, first.err);
      const text = readFileSync(join(dir, 'a1111.imgprompt'), 'utf8');
      assert.match(text, /^# Imported from a1111\.png \(a1111 metadata\) by imgprompt import\.\n/);
      assert.match(text, /\n# a1111: Model: v1-5-pruned-emaonly\n/);
      assert.match(text, /\n# a1111: Hires upscale: 2\n/);
      assert.match(text, /\n# a1111: Denoising strength: 0\.45 \(image-to-image; the input image is not recorded\)\n/);
      const scene = parsedScene(text);
      assert.deepEqual(scene, {
        prompt: 'a lighthouse on a cliff, (storm clouds:1.2),\ndramatic lighting',
        negative: 'blurry, lowres',
        seed: 3141592653n,
        size: { width: 768n, height: 512n },
        sampler: 'dpmpp_2m',
        schedule: 'karras',
        steps: 28n,
        guidance: 6.5,
        loras: [
          { file: 'wavesXL.safetensors', weight: 0.7 },
          { file: 'film grain.safetensors', weight: 1n },
        ],
      });
      writeFileSync(join(dir, 'a1111.imgprompt'), 'mine\n');
      const again = await cli(['import', 'a1111.png'], dir);
      assert.equal(again.code, 1);
      assert.match(again.err, /a1111\.imgprompt: already exists \(use --force to overwrite\)/);
      assert.equal(readFileSync(join(dir, 'a1111.imgprompt'), 'utf8'), 'mine\n');
      assert.equal((await cli(['import', 'a1111.png', '--force'], dir)).code, 0);
      assert.equal(readFileSync(join(dir, 'a1111.imgprompt'), 'utf8'), text);
      assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.tmp')), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('InvokeAI: -o names the file; the 64-bit seed survives', async () => {
    const dir = workdir();
    try {
      assert.equal((await cli(['import', 'invokeai.png', '-o', 'fox.imgprompt'], dir)).code, 0);
      const scene = parsedScene(readFileSync(join(dir, 'fox.imgprompt'), 'utf8'));
      assert.equal(scene.seed, 18446744073709551615n);
      assert.equal(scene.prompt, 'a red fox in the snow, watercolour');
      assert.deepEqual(scene.loras, [{ file: 'watercolor_v2.safetensors', weight: 0.6 }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('no metadata or not a PNG: an error naming the file, nothing written', async () => {
    const dir = workdir();
    try {
      const none = await cli(['import', 'no-metadata.png'], dir);
      assert.equal(none.code, 1);
      assert.match(none.err, /no-metadata\.png: no generation metadata to import/);
      const bad = await cli(['import', 'not-a-png.png'], dir);
      assert.equal(bad.code, 1);
      assert.match(bad.err, /not-a-png\.png: not a PNG file/);
      assert.deepEqual(readdirSync(dir).filter((f) => f.endsWith('.imgprompt')), []);
      assert.equal((await cli(['import', 'a.png', 'b.png'], dir)).code, 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('ComfyUI fixtures import to valid scenes with the graph values', { skip: skipComfy }, async () => {
    const dir = mkdtempSync(join(tmpdir(), 'imgprompt-import-'));
    try {
      const lora = await cli(['import', join(COMFY, 'lora_lora.png'), '-o', join(dir, 'lora.imgprompt')], dir);
      assert.equal(lora.code, 0, lora.err);
      const text = readFileSync(join(dir, 'lora.imgprompt'), 'utf8');
      assert.match(text, /\n# comfyui: ckpt_name v1-5-pruned-emaonly\.ckpt\n/);
      assert.deepEqual(parsedScene(text), {
        prompt: 'masterpiece best quality girl',
        negative: 'bad hands',
        seed: 851616030078638n,
        size: { width: 512n, height: 512n },
        sampler: 'euler',
        schedule: 'normal',
        steps: 20n,
        guidance: 8n,
        loras: [{ file: 'epiNoiseoffset_v2.safetensors', weight: 1n }],
      });
      const img2img = await cli(['import', join(COMFY, 'img2img_img2img_workflow.png'), '-o', '-'], dir);
      assert.equal(img2img.code, 0);
      const scene = parsedScene(img2img.out);
      assert.deepEqual(scene.init, { image: 'example.png', strength: 0.8700000000000001 });
      assert.equal(scene.prompt, 'photograph of victorian woman with wings, sky clouds, meadow grass');
      const cn = await cli(['import', join(COMFY, 'controlnet_controlnet_example.png'), '-o', '-'], dir);
      assert.match(cn.out, /\n# comfyui: sampler_name uni_pc\n/);
      assert.match(cn.out, /\n# comfyui: ControlNetApply control_scribble\.safetensors, strength 0\.8999999999999999, image input_scribble_example\.png\n/);
      assert.equal(parsedScene(cn.out).sampler, undefined);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('our own recipe maps back to model, purpose and project-relative LoRA paths', () => {
    const text = sceneFromMetadata(
      {
        source: 'imgprompt',
        model: 'tiny-shapes',
        prompt: 'a red circle',
        seed: 7,
        steps: 12,
        sampler: 'lcm',
        guidance: 1,
        width: 128,
        height: 96,
        loras: [{ name: 'outline', weight: 0.5, file: '/proj/loras/outline.safetensors' }],
        purpose: 'Header image for the guide.',
        unmapped: {},
      },
      { sceneDir: '/proj/figures' },
    );
    assert.deepEqual(parse(text), {
      model: 'tiny-shapes',
      purpose: 'Header image for the guide.',
      prompt: 'a red circle',
      seed: 7,
      size: { width: 128, height: 96 },
      sampler: 'lcm',
      steps: 12,
      guidance: 1,
      loras: [{ file: '../loras/outline.safetensors', weight: 0.5 }],
    });
  });

  test('a recorded weight precision maps back to the precision key; fp32 adds nothing; an unknown one is kept as a comment', () => {
    const recipe = { prompt: 'a red circle', seed: '7', model: { name: 'tiny-shapes' }, loras: [] };
    const int8 = metadataFromRecipe({ ...recipe, precision: 'int8' });
    assert.equal(int8.precision, 'int8');
    assert.equal(parse(sceneFromMetadata(int8)).precision, 'int8');
    assert.equal(parseScene(sceneFromMetadata(int8)).scene.precision, 'int8');
    const fp32 = metadataFromRecipe({ ...recipe, precision: 'fp32' });
    assert.equal(fp32.precision, undefined);
    assert.equal(parse(sceneFromMetadata(fp32)).precision, undefined);
    const odd = metadataFromRecipe({ ...recipe, precision: 'fp8' });
    assert.equal(odd.precision, undefined);
    assert.equal(odd.unmapped.precision, 'fp8');
    assert.match(sceneFromMetadata(odd), /# imgprompt: precision fp8/);
  });

  test('recorded tuning options map back to their scene keys through the registry; invalid ones are kept as comments', () => {
    const recipe = { prompt: 'a red circle', seed: '7', model: { name: 'tiny-shapes' }, loras: [] };
    const meta = metadataFromRecipe({ ...recipe, options: { guidance_rescale: 0.7, guidance_rescal: 1, guidance_rescale_x: 'a' } });
    assert.deepEqual(meta.options, { guidance_rescale: 0.7 });
    const scene = parseScene(sceneFromMetadata(meta));
    assert.deepEqual(scene.diagnostics.filter((d) => d.severity === 'error'), []);
    assert.deepEqual(scene.scene.options, { guidance_rescale: 0.7 });
    assert.equal(meta.unmapped['options.guidance_rescal'], '1');
    const outOfRange = metadataFromRecipe({ ...recipe, options: { guidance_rescale: 3 } });
    assert.equal(outOfRange.options, undefined);
    assert.match(sceneFromMetadata(outOfRange), /options\.guidance_rescale 3/);
  });
});
