// Issue #15, defects 3, 4, 5, 8, 9, 12, 13 (counts): what a hostile repository can make the render path
// read, write or allocate. Each test fails on the engine before the hardening and passes after.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cpSync, linkSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  analyzeScene,
  createRenderService,
  InputError,
  judgeFreshness,
  loadImageTensor,
  ModelError,
  nodeFileSystem,
  parseOnnxModel,
  readOnnxModelFiles,
  type RenderService,
  type SceneDiagnostic,
} from '../../src/engine/index';

const repo = join(__dirname, '..', '..');
const models = join(repo, 'models');
const PNG_1x1 = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108020000009077533e0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082', 'hex');

/** A project (with .git) and a folder outside it, both throwaway. */
function sandbox() {
  const base = mkdtempSync(join(tmpdir(), 'imgprompt-paths-'));
  const project = join(base, 'project');
  const outside = join(base, 'outside');
  mkdirSync(join(project, '.git'), { recursive: true });
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret.png'), PNG_1x1);
  return { base, project, outside, cleanup: () => rmSync(base, { recursive: true, force: true }) };
}

function analyze(project: string, name: string, text: string): SceneDiagnostic[] {
  const file = join(project, name);
  writeFileSync(file, text);
  return analyzeScene(text, { file, projectRoot: project, builtinModelsDir: models }).diagnostics.filter((d) => d.severity === 'error');
}

const scene = (extra: string) => `model: tiny-shapes\nprompt: a red circle\nsteps: 2\n${extra}`;

describe('symbolic links cannot lead a scene out of its project (defect 3)', () => {
  const box = sandbox();
  after(box.cleanup);

  test('a hint image, init image or output through a link to a file or a folder outside is an outside-project error', () => {
    symlinkSync(join(box.outside, 'secret.png'), join(box.project, 'linked.png'));
    symlinkSync(box.outside, join(box.project, 'elsewhere'));
    const cases = [
      scene('init:\n  image: linked.png\n'),
      scene('init:\n  image: elsewhere/secret.png\n'),
      scene('control:\n  - type: canny\n    image: elsewhere/secret.png\n'),
      scene('output: elsewhere/figure.png\n'),
    ];
    for (const text of cases) {
      const errors = analyze(box.project, 'a.imgprompt', text);
      assert.ok(errors.some((d) => d.code === 'outside-project' && /symbolic link/.test(d.message)), `${text}\n→ ${JSON.stringify(errors)}`);
    }
  });

  test('a link that stays inside the project is followed', () => {
    mkdirSync(join(box.project, 'art'));
    writeFileSync(join(box.project, 'art', 'real.png'), PNG_1x1);
    symlinkSync(join(box.project, 'art'), join(box.project, 'art-link'));
    assert.deepEqual(analyze(box.project, 'b.imgprompt', scene('init:\n  image: art-link/real.png\n')), []);
  });
});

describe('an output never overwrites an input (defect 8)', () => {
  const box = sandbox();
  after(box.cleanup);

  test('output equal to the hint image, through a link to the init image, or a hard link to it, is refused', () => {
    writeFileSync(join(box.project, 'hint.png'), PNG_1x1);
    writeFileSync(join(box.project, 'init.png'), PNG_1x1);
    symlinkSync(join(box.project, 'init.png'), join(box.project, 'alias.png'));
    linkSync(join(box.project, 'init.png'), join(box.project, 'hard.png'));
    const cases = [
      scene('control:\n  - type: canny\n    image: hint.png\noutput: hint.png\n'),
      scene('init:\n  image: init.png\noutput: alias.png\n'),
      scene('init:\n  image: init.png\noutput: hard.png\n'),
    ];
    for (const text of cases) {
      const errors = analyze(box.project, 'c.imgprompt', text);
      assert.ok(errors.some((d) => d.code === 'output-overwrites-input'), `${text}\n→ ${JSON.stringify(errors)}`);
    }
  });

  test('the default output, a variant or a saved hint landing on an input is refused too', () => {
    writeFileSync(join(box.project, 'd.png'), PNG_1x1);
    writeFileSync(join(box.project, 'fig-7.png'), PNG_1x1);
    writeFileSync(join(box.project, 'fig.hint-1.png'), PNG_1x1);
    const byDefault = analyze(box.project, 'd.imgprompt', scene('init:\n  image: d.png\n'));
    assert.ok(byDefault.some((d) => d.code === 'output-overwrites-input'), JSON.stringify(byDefault));
    const variant = analyze(box.project, 'e.imgprompt', scene('init:\n  image: fig-7.png\noutput: fig.png\nvariants:\n  seeds: [7]\n'));
    assert.ok(variant.some((d) => d.code === 'output-overwrites-input'), JSON.stringify(variant));
    const hint = analyze(box.project, 'f.imgprompt', scene('control:\n  - type: canny\n    image: fig.hint-1.png\noutput: fig.png\n'));
    assert.ok(hint.some((d) => d.code === 'output-overwrites-input'), JSON.stringify(hint));
  });
});

describe('reads of workspace files are bounded (defect 5)', () => {
  const box = sandbox();
  after(box.cleanup);

  test('a model config that is a device, a FIFO or too large is an error, not a hang or a huge read', () => {
    symlinkSync('/dev/zero', join(box.project, 'zero.json'));
    execFileSync('mkfifo', [join(box.project, 'fifo.json')]);
    writeFileSync(join(box.project, 'big.json'), Buffer.alloc(17 * 1024 * 1024, 0x20));
    for (const name of ['zero.json', 'fifo.json', 'big.json']) {
      const started = performance.now();
      assert.throws(() => nodeFileSystem.readText(join(box.project, name)), /not a regular file|over the/, name);
      assert.ok(performance.now() - started < 2000, `${name} took ${performance.now() - started} ms`);
    }
  });

  test('a hint or init image that is a FIFO or a device is an InputError at once, never a hang', async () => {
    execFileSync('mkfifo', [join(box.project, 'pipe.png')]);
    symlinkSync('/dev/zero', join(box.project, 'zero.png'));
    for (const name of ['pipe.png', 'zero.png']) {
      const started = performance.now();
      await assert.rejects(loadImageTensor(join(box.project, name), { width: 8, height: 8 }), (e: unknown) => e instanceof InputError && /not a regular file/.test(e.message), name);
      assert.ok(performance.now() - started < 2000, `${name} took ${performance.now() - started} ms`);
    }
  });

  test('an output that is a link to /dev/zero is judged stale at once, never read forever', async () => {
    const output = join(box.project, 'figure.png');
    symlinkSync('/dev/zero', output);
    const started = performance.now();
    const freshness = await judgeFreshness({ output, hash: 'x', metadata: {} as never });
    assert.equal(freshness.state, 'stale');
    assert.match(freshness.reason, /not a regular file/);
    assert.ok(performance.now() - started < 2000);
  });
});

describe('ONNX external data stays inside the model (defect 4)', () => {
  const box = sandbox();
  after(box.cleanup);

  test('an external-data file that links outside the model folder is refused; a Hugging Face cache link into blobs/ is read', async () => {
    // A one-initializer model whose weights live in external data, written by hand in the ONNX layout.
    const fixture = join(repo, 'test', 'fixtures', 'onnx');
    const withExternal = execFileSync('grep', ['-rl', '--include=model.onnx', 'model.onnx_data', fixture], { encoding: 'utf8' }).split('\n').filter(Boolean)[0];
    assert.ok(withExternal, 'a fixture with external data');
    const source = join(withExternal, '..');
    const component = join(box.project, 'model', 'unet');
    mkdirSync(component, { recursive: true });
    cpSync(join(source, 'model.onnx'), join(component, 'model.onnx'));
    cpSync(join(source, 'model.onnx_data'), join(box.outside, 'stolen.bin'));
    symlinkSync(join(box.outside, 'stolen.bin'), join(component, 'model.onnx_data'));
    await assert.rejects(readOnnxModelFiles(join(component, 'model.onnx')), (e: unknown) => e instanceof ModelError && /leads outside the model folder/.test(e.message));

    const repoDir = join(box.project, 'hub', 'models--org--name');
    const snapshot = join(repoDir, 'snapshots', 'abc', 'unet');
    mkdirSync(snapshot, { recursive: true });
    mkdirSync(join(repoDir, 'blobs'));
    cpSync(join(source, 'model.onnx'), join(repoDir, 'blobs', 'graph'));
    cpSync(join(source, 'model.onnx_data'), join(repoDir, 'blobs', 'weights'));
    symlinkSync('../../../blobs/graph', join(snapshot, 'model.onnx'));
    symlinkSync('../../../blobs/weights', join(snapshot, 'model.onnx_data'));
    const files = await readOnnxModelFiles(join(snapshot, 'model.onnx'));
    assert.ok(files.externalData.length > 0);
  });
});

describe('rendering refuses what would be silent garbage or too big (defects 9, 12)', () => {
  const box = sandbox();
  let service: RenderService;
  after(async () => {
    await service?.dispose();
    box.cleanup();
  });

  test('a VAE that decodes to NaN is a ModelError naming the VAE and the fix; nothing is written', async () => {
    const model = join(box.project, 'models', 'tiny-shapes');
    cpSync(join(models, 'tiny-shapes'), model, { recursive: true });
    // Overwrite every float weight of the VAE decoder with NaN.
    const path = join(model, 'vae_decoder', 'model.onnx');
    const bytes = readFileSync(path);
    for (const init of parseOnnxModel(bytes).initializers) {
      if (init.dataType !== 1 || init.data.kind !== 'raw') continue;
      for (let o = init.data.offset; o + 4 <= init.data.offset + init.data.length; o += 4) bytes.writeFloatLE(Number.NaN, o);
    }
    writeFileSync(path, bytes);
    const text = 'model: ./models/tiny-shapes\nprompt: a red circle\nsteps: 2\n';
    const file = join(box.project, 'nan.imgprompt');
    writeFileSync(file, text);
    service = await createRenderService({ threads: 1 });
    const plan = await service.plan({ file, context: { projectRoot: box.project, builtinModelsDir: models } });
    await assert.rejects(service.execute(plan), (e: unknown) => e instanceof ModelError && /vae_decoder/.test(e.message) && /NaN/.test(e.message) && /float32 VAE/.test(e.message));
    assert.equal((await judgeFreshness(plan.jobs[0].job)).state, 'missing', 'no PNG was written');
  });

  test('a size over the cap is an error at the size key; an explicit cap allows it', () => {
    const text = scene('size:\n  width: 4096\n  height: 4096\n');
    const file = join(box.project, 'big.imgprompt');
    writeFileSync(file, text);
    const capped = analyzeScene(text, { file, projectRoot: box.project, builtinModelsDir: models });
    assert.ok(capped.diagnostics.some((d) => d.code === 'size-too-large' && /IMGPROMPT_MAX_MEGAPIXELS/.test(d.message)), JSON.stringify(capped.diagnostics));
    const allowed = analyzeScene(text, { file, projectRoot: box.project, builtinModelsDir: models, maxMegapixels: 17 });
    assert.ok(!allowed.diagnostics.some((d) => d.code === 'size-too-large'));
  });

  test('activations that cannot fit the memory limit are refused before any model loads', async () => {
    const limited = await createRenderService({ threads: 1, memoryLimitBytes: 64 * 1024 * 1024 });
    try {
      const text = scene('size:\n  width: 1024\n  height: 1024\n');
      const file = join(box.project, 'wide.imgprompt');
      writeFileSync(file, text);
      const plan = await limited.plan({ file, context: { projectRoot: box.project, builtinModelsDir: models } });
      await assert.rejects(limited.execute(plan), (e: unknown) => e instanceof ModelError && /activations/.test(e.message) && /needs about/.test(e.message));
    } finally {
      await limited.dispose();
    }
  });

  test('lists are bounded: more than 16 LoRAs, 8 control entries or 64 variant seeds is an error', () => {
    const loras = `loras:\n${Array.from({ length: 17 }, () => '  - file: outline\n').join('')}`;
    const seeds = `variants:\n  seeds: [${Array.from({ length: 65 }, (_v, i) => i + 1).join(', ')}]\n`;
    for (const extra of [loras, seeds]) {
      const errors = analyze(box.project, 'many.imgprompt', scene(extra));
      assert.ok(errors.some((d) => d.code === 'too-many'), JSON.stringify(errors.slice(0, 3)));
    }
  });
});
