// `npm run package`: production bundles, then the linux-x64 .vsix, built offline and without prompts.
// What goes in is decided by .vscodeignore (checked by test/unit/packaging); this script prints the size
// and the largest entries and fails if a file the extension cannot run without is missing.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const target = 'linux-x64';
const manifest = JSON.parse(readFileSync('package.json', 'utf8'));
const vsixPath = `${manifest.name}-${target}-${manifest.version}.vsix`;
const required = [
  'extension/package.json',
  'extension/LICENSE.txt', // vsce renames LICENSE
  'extension/out/extension.js',
  'extension/out/worker.js',
  'extension/models/tiny-shapes/model_index.json',
  'extension/models/tiny-shapes/unet/model.onnx',
  'extension/vocab/bpe_simple_vocab_16e6.txt.gz',
  'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
  'extension/node_modules/@img/sharp-linux-x64/package.json',
];

/** Runs a Node script with stdin closed, so any prompt fails instead of waiting. */
function runNode(args) {
  const result = spawnSync(process.execPath, args, { stdio: ['ignore', 'inherit', 'inherit'] });
  if (result.status !== 0) {
    console.error(`package: \`node ${args.join(' ')}\` failed (${result.status ?? result.signal})`);
    process.exit(1);
  }
}

/** Names and sizes of a zip's entries, read from its central directory (a .vsix is a plain zip, no zip64). */
function zipEntries(path) {
  const zip = readFileSync(path);
  let end = zip.length - 22;
  while (end >= 0 && zip.readUInt32LE(end) !== 0x06054b50) end--;
  if (end < 0) throw new Error(`${path}: no zip end-of-central-directory record`);
  const entries = [];
  let at = zip.readUInt32LE(end + 16);
  for (let i = 0, count = zip.readUInt16LE(end + 10); i < count; i++) {
    if (zip.readUInt32LE(at) !== 0x02014b50) throw new Error(`${path}: bad central directory entry ${i}`);
    const nameLength = zip.readUInt16LE(at + 28);
    entries.push({
      name: zip.toString('utf8', at + 46, at + 46 + nameLength),
      compressed: zip.readUInt32LE(at + 20),
      size: zip.readUInt32LE(at + 24),
    });
    at += 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
  }
  return entries;
}

const mib = (bytes) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;

// The production build writes no sourcemaps; maps left by a development build would describe other code.
if (existsSync('out')) {
  for (const name of readdirSync('out')) if (name.endsWith('.map')) rmSync(join('out', name));
}
runNode(['esbuild.mjs', '--production']);

// No repository field and README links that stay relative: vsce would otherwise stop and ask.
const vsce = join(dirname(createRequire(import.meta.url).resolve('@vscode/vsce/package.json')), 'vsce');
runNode([vsce, 'package', '--target', target, '--out', vsixPath, '--allow-missing-repository', '--no-rewrite-relative-links']);

const entries = zipEntries(vsixPath);
const names = new Set(entries.map((entry) => entry.name));
const missing = required.filter((name) => !names.has(name));
if (missing.length > 0) {
  console.error(`package: ${vsixPath} lacks ${missing.join(', ')}; check the ! lines of .vscodeignore`);
  process.exit(1);
}
const unpacked = entries.reduce((sum, entry) => sum + entry.size, 0);
console.log(`\n${vsixPath}: ${mib(statSync(vsixPath).size)} (${entries.length} entries, ${mib(unpacked)} unpacked)`);
for (const entry of entries.sort((a, b) => b.compressed - a.compressed).slice(0, 10)) {
  console.log(`  ${mib(entry.compressed).padStart(9)} (${mib(entry.size).padStart(9)} unpacked)  ${entry.name}`);
}
