// Hover text and completion candidates for model references, from imgprompt.lock and the caches only.
import { strict as assert } from 'node:assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { hubRefCandidates, hubRefHover } from '../../../src/extension/hub/hubRefInfo';
import { formatLockfile } from '../../../src/engine/hub/lockfile';

test('hover: licence, size and downloaded state; completion: locked refs and cached repositories', () => {
  const box = mkdtempSync(join(tmpdir(), 'imgprompt-hubinfo-'));
  try {
    const places = { projectRoot: join(box, 'project'), hubCacheDir: join(box, 'hub'), civitaiDir: join(box, 'civitai') };
    mkdirSync(places.projectRoot);
    const commit = 'c'.repeat(40);
    writeFileSync(
      join(places.projectRoot, 'imgprompt.lock'),
      formatLockfile({ lockfileVersion: 1, models: { 'hf:org/tiny@main': { source: 'huggingface', repo: 'org/tiny', revision: 'main', commit, license: 'mit', files: { 'unet/model.onnx': { size: 15_500_000, sha256: 'a'.repeat(64) } } } } }),
    );
    let hover = hubRefHover('hf:org/tiny', places) ?? '';
    assert.match(hover, /\*\*org\/tiny\*\* — Hugging Face at `main`/);
    assert.match(hover, /not downloaded yet/);
    assert.match(hover, /licence: mit/);
    assert.match(hover, /1 file\(s\), 15\.5 MB/);
    mkdirSync(join(places.hubCacheDir, 'models--org--tiny', 'snapshots', commit), { recursive: true });
    mkdirSync(join(places.hubCacheDir, 'models--other--model'), { recursive: true });
    hover = hubRefHover('hf:org/tiny', places) ?? '';
    assert.match(hover, /downloaded \(commit `cccccccccccc`\)/);
    assert.match(hubRefHover('hf:org', places) ?? '', /must name a repository/);
    assert.equal(hubRefHover('./models/x', places), undefined);
    assert.deepEqual(
      hubRefCandidates(places).map((c) => c.ref),
      ['hf:org/tiny@main', 'hf:other/model'],
    );
  } finally {
    rmSync(box, { recursive: true });
  }
});
