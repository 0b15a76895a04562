// `npm run samples`, the first command in README: re-renders every figure in samples/ with the built CLI
// (out/cli.js; `npm ci` builds it), so a fresh clone shows figures being made even though their PNGs are
// committed; then verifies them, says whether the new PNGs are byte-identical to the committed ones, and
// where to look. Exits non-zero when render or verify fails. Runs the CLI as a subprocess, like a user.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'out', 'cli.js');
const samplesDir = join(root, 'samples');

if (!existsSync(cli)) {
  console.error(`${relative(process.cwd(), cli)} is missing: build it with \`npm run build\` (\`npm ci\` does that too).`);
  process.exit(1);
}

/** Runs `imgprompt <args>` with this terminal; returns its exit status. */
function imgprompt(args) {
  console.log(`\n$ imgprompt ${args.join(' ')}`);
  const result = spawnSync(process.execPath, [cli, ...args], { cwd: root, stdio: 'inherit' });
  if (result.error) console.error(`cannot run ${cli}: ${result.error.message}`);
  return result.status ?? 1;
}

/** Every PNG below `dir`, as paths relative to the repository root with '/' separators. */
function pngsBelow(dir) {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile() && entry.name.toLowerCase().endsWith('.png'))
    .map((entry) => relative(root, join(entry.parentPath ?? entry.path, entry.name)).split('\\').join('/'))
    .sort();
}

/**
 * A PNG's chunks but its C2PA manifest (`caBX`): each signing salts its claim afresh, and another machine
 * signs with its own key, so the byte-identical promise covers the file outside that chunk.
 */
function withoutC2pa(png) {
  const kept = [png.subarray(0, 8)];
  for (let at = 8; at + 12 <= png.length; ) {
    const end = at + 12 + png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) !== 'caBX') kept.push(png.subarray(at, end));
    at = end;
  }
  return Buffer.concat(kept);
}

/** Runs git in the repository; null when git is missing or this is not a git checkout. */
function git(args) {
  const result = spawnSync('git', args, { cwd: root, encoding: 'utf8' });
  return result.error || result.status === null ? null : result;
}

console.log('Rendering every scene in samples/ with the embedded tiny-shapes model.');
console.log('--force renders each figure even though its committed PNG is already up to date.');
// Sub-second slack for filesystems with coarse timestamps: what render writes is at least this new.
const started = Date.now() - 1000;
// The prompt log is for authors' projects; this checkout's samples keep the tree clean without one.
process.env.IMGPROMPT_PROMPT_LOG ??= '0';
let status = imgprompt(['render', '--force', 'samples']);
if (status !== 0) process.exit(status);
status = imgprompt(['verify', 'samples']);
if (status !== 0) process.exit(status);

// The figures render just wrote (hint and init images the scenes read are left alone).
const rendered = pngsBelow(samplesDir).filter((path) => statSync(join(root, path)).mtimeMs >= started);
console.log();
if (git(['rev-parse', '--is-inside-work-tree'])?.stdout.trim() !== 'true') {
  console.log(`${rendered.length} figures re-rendered (not a git checkout: nothing committed to compare with).`);
} else {
  const changed = (git(['diff', '--name-only', '--', 'samples'])?.stdout ?? '').split('\n').filter(Boolean);
  const committed = (path) => {
    const shown = spawnSync('git', ['show', `HEAD:${path}`], { cwd: root, maxBuffer: 64 << 20 });
    return shown.status === 0 ? shown.stdout : null;
  };
  const sameOutsideC2pa = (path) => {
    const before = committed(path);
    return before !== null && withoutC2pa(before).equals(withoutC2pa(readFileSync(join(root, path))));
  };
  const resigned = changed.filter((path) => rendered.includes(path) && sameOutsideC2pa(path));
  const differing = changed.filter((path) => rendered.includes(path) && !resigned.includes(path));
  const others = changed.filter((path) => !rendered.includes(path));
  const fresh = rendered.length === 0 ? [] : (git(['ls-files', '--others', '--exclude-standard', '--', ...rendered])?.stdout ?? '').split('\n').filter(Boolean);
  const identical = rendered.length - differing.length - fresh.length;
  if (identical === rendered.length) {
    console.log(`${rendered.length} figures re-rendered byte-identical to the committed ones${resigned.length ? ` outside their C2PA manifests (${resigned.length} signed here with this machine's key)` : ''}.`);
  } else {
    console.log(`${rendered.length} figures re-rendered: ${identical} byte-identical to the committed ones (outside their C2PA manifests).`);
  }
  if (differing.length > 0) {
    console.log(`${differing.length} differ from the committed PNG: ${differing.join(', ')}`);
    console.log('  The same machine renders the same bytes every time; another CPU may round the last bit of a');
    console.log('  few pixels differently. `git restore samples` puts the committed figures back.');
  }
  if (fresh.length > 0) console.log(`New, not committed: ${fresh.join(', ')}`);
  if (others.length > 0) console.log(`Also changed in samples/ (not by this render): ${others.join(', ')}`);
}

console.log(`
Where to look:
  the figures      samples/*.png, each beside the .imgprompt scene it was rendered from
  what they show   samples/README.md
  in VS Code       code --extensionDevelopmentPath="${root}" "${samplesDir}"
                   (this checkout's extension on samples/: open a .imgprompt file and run
                   "imgprompt: Open Preview", or edit the scene and save it to render it again)`);
