// What `npm run package` puts into the linux-x64 .vsix, listed by vsce itself (offline: it only runs
// `npm list`) under .vscodeignore: the embedded model and one platform's native binaries, no sources.
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { listFiles } from '@vscode/vsce';

const repo = resolve(__dirname, '../../..');
const model = 'models/tiny-shapes';

/** Every file under `dir` (repository-relative, forward slashes). */
function walk(dir: string): string[] {
  return readdirSync(join(repo, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    return entry.isDirectory() ? walk(path) : [path];
  });
}

describe('the linux-x64 .vsix', () => {
  let files: Set<string>;
  const shipped = (prefix: string) => [...files].filter((file) => file.startsWith(prefix));

  before(async () => {
    files = new Set(await listFiles({ cwd: repo }));
  });

  test('carries the manifest, licence and every file package.json points at', () => {
    const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
    const contributed: string[] = [
      manifest.main,
      ...manifest.contributes.languages.map((language: { configuration: string }) => language.configuration),
      ...manifest.contributes.grammars.map((grammar: { path: string }) => grammar.path),
      ...manifest.contributes.snippets.map((snippet: { path: string }) => snippet.path),
      ...manifest.contributes.yamlValidation.map((validation: { url: string }) => validation.url),
    ];
    for (const file of ['package.json', 'README.md', 'LICENSE', 'out/worker.js', ...contributed]) {
      const path = file.replace(/^\.\//, '');
      if (path.startsWith('out/') && !existsSync(join(repo, path))) continue; // not built in this checkout
      assert.ok(files.has(path), `${path} is not packaged`);
    }
  });

  test('carries the embedded model and every graph, weight, config and tokenizer file under models/', () => {
    const onDisk = walk('models').filter((file) => /\.(onnx|onnx_data|safetensors|json|txt|md)$/.test(file));
    for (const required of ['model_index.json', 'unet/model.onnx', 'text_encoder/model.onnx', 'vae_decoder/model.onnx',
      'tokenizer/vocab.json', 'tokenizer/merges.txt', 'scheduler/scheduler_config.json']) {
      assert.ok(onDisk.includes(`${model}/${required}`), `${model}/${required} is missing from the repository`);
    }
    assert.deepEqual(onDisk.filter((file) => !files.has(file)), [], 'model files left out of the package');
  });

  test('carries only the linux x64 CPU binaries of ONNX Runtime and sharp', () => {
    const ortBinaries = shipped('node_modules/onnxruntime-node/bin/');
    assert.deepEqual(
      ortBinaries.filter((file) => !/^node_modules\/onnxruntime-node\/bin\/napi-v\d+\/linux\/x64\/(libonnxruntime\.so[.\d]*|onnxruntime_binding\.node)$/.test(file)),
      [],
      'ONNX Runtime files other than the linux x64 CPU runtime and binding',
    );
    assert.ok(ortBinaries.some((file) => file.endsWith('/onnxruntime_binding.node')), 'no onnxruntime_binding.node');
    assert.ok(ortBinaries.some((file) => /\/libonnxruntime\.so\.\d+$/.test(file)), 'no libonnxruntime.so');
    assert.deepEqual(
      shipped('node_modules/@img/').filter((file) => !/^node_modules\/@img\/(sharp-linux-x64|sharp-libvips-linux-x64|colour)\//.test(file)),
      [],
      'sharp packages for other platforms',
    );
    assert.deepEqual([...files].filter((file) => /\.(dll|dylib|exe|pdb)$|providers_(cuda|tensorrt)/i.test(file)), []);
  });

  test('carries no sources, tests, tools, sourcemaps or bundled dependencies', () => {
    const forbidden = /^(src|test|tools|scripts|samples|\.ci|\.cache|test-results|out\/test)\/|^node_modules\/(\.cache|chokidar|readdirp|yaml|adm-zip|global-agent)\/|\.map$|(?<!\.d)\.ts$/;
    assert.deepEqual([...files].filter((file) => forbidden.test(file)), []);
  });

  test('its node_modules load on their own: ONNX Runtime runs the model, sharp encodes a PNG', () => {
    // Copy only what ships into a folder outside the repository, so nothing resolves from our node_modules.
    const root = mkdtempSync(join(tmpdir(), 'imgprompt-vsix-'));
    try {
      for (const file of shipped('node_modules/')) {
        mkdirSync(join(root, dirname(file)), { recursive: true });
        copyFileSync(join(repo, file), join(root, file));
      }
      const script = `
        const ort = require('onnxruntime-node');
        const sharp = require('sharp');
        (async () => {
          const session = await ort.InferenceSession.create(process.argv[1]);
          const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: '#f00' } }).png().toBuffer();
          // The extension's lazy import() takes sharp's ESM entry: it must ship too.
          const esm = (await import('sharp')).default;
          await esm({ create: { width: 1, height: 1, channels: 3, background: '#000' } }).png().toBuffer();
          console.log(JSON.stringify({ ort: require.resolve('onnxruntime-node'), sharp: require.resolve('sharp'),
            inputs: session.inputNames, png: png.subarray(1, 4).toString() }));
        })().catch((error) => { console.error(error); process.exit(1); });`;
      const output = execFileSync(process.execPath, ['-e', script, join(repo, model, 'vae_decoder/model.onnx')], {
        cwd: root,
        env: { ...process.env, NODE_PATH: '' },
        encoding: 'utf8',
      });
      const result = JSON.parse(output.trim().split('\n').at(-1) ?? '');
      assert.equal(relative(root, result.ort).split(/[\\/]/)[0], 'node_modules', `onnxruntime-node resolved to ${result.ort}`);
      assert.equal(relative(root, result.sharp).split(/[\\/]/)[0], 'node_modules', `sharp resolved to ${result.sharp}`);
      assert.deepEqual(result.inputs, ['latent_sample']);
      assert.equal(result.png, 'PNG');
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
