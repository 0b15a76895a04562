// UI tests of the preview in the real workbench (run by scripts/vscode-test/run.mjs): open a scene's
// preview from the command palette, zoom, see the variants, render a second version (PNGs written the
// way a render writes them, with their recipes, while the first is committed to git), compare them in
// every diff mode and read the provenance. Screenshots: preview-*.png and diff-*.png in resultsDir.
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { quickOpen, runCommand } from './workbench.mjs';

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const SCENE = `# The preview UI test's scene.
model: tiny-shapes
prompt: a red circle above a blue square, flat vector illustration
seed: 1234
variants: {seeds: [7, 8]}
output: figure.png
purpose: Shows the preview in the extension tests.
`;

/** Writes the fixture PNG `version` (a: red circle, b: green circle) with its recipe, as a render would. */
function writeFigure(path, version, seed = '1234') {
  const result = spawnSync(process.execPath, ['--import', 'tsx', 'test/vscode/suite/previewFixtures.ts', path, version, seed], { cwd: projectRoot, encoding: 'utf8' });
  assert.equal(result.status, 0, `writing ${path} failed: ${result.stderr}`);
}

function git(folder, ...args) {
  execFileSync('git', ['-c', 'user.name=imgprompt tests', '-c', 'user.email=tests@example.invalid', '-c', 'commit.gpgsign=false', ...args], { cwd: folder, stdio: 'pipe' });
}



/**
 * The preview's document inside the webview's nested iframes: the frame that holds the preview's root.
 * Found among all frames because the workbench keeps other (hidden) webview iframes around too.
 */
async function previewFrame(page, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const frame of page.frames()) {
      if (await frame.locator('#scene-name').count().catch(() => 0)) return frame;
    }
    if (Date.now() > deadline) assert.fail(`no preview webview among ${page.frames().length} frames`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

let shared;

/** Sets the workspace up once for the file's tests: scene, first render and variants, committed to git. */
async function setUp({ openWorkbench, log }) {
  shared ??= (async () => {
    const { page, folder } = await openWorkbench();
    writeFileSync(join(folder, 'preview.imgprompt'), SCENE);
    writeFigure(join(folder, 'figure.png'), 'a');
    writeFigure(join(folder, 'figure-7.png'), 'a', '7');
    writeFigure(join(folder, 'figure-8.png'), 'a', '8');
    git(folder, 'init', '-q');
    git(folder, 'add', '.');
    git(folder, 'commit', '-q', '-m', 'First version of the figure');
    log('workspace: scene, figure.png (red circle) and two variants committed');
    return { page, folder };
  })();
  return shared;
}

export const tests = [
  {
    name: 'preview: Open Preview shows the output beside the scene, with zoom and alt text from the prompt',
    async run(ctx) {
      const { page } = await setUp(ctx);
      await quickOpen(page, 'preview.imgprompt', 'red circle');
      await runCommand(page, 'imgprompt: Open Preview');
      const frame = await previewFrame(page);
      const image = frame.locator('#output-image');
      await image.waitFor({ timeout: 30_000 });
      await frame.locator('#scene-name', { hasText: 'preview.imgprompt' }).waitFor({ timeout: 15_000 });
      assert.match(await image.getAttribute('alt'), /a red circle above a blue square/);
      assert.match(await image.getAttribute('src'), /figure\.png/);
      await frame.locator('.viewer[data-mode="fit"]').waitFor();
      await frame.locator('#zoom-actual').click();
      await frame.locator('.viewer[data-scale="1.0000"]').waitFor({ timeout: 5_000 });
      await page.screenshot({ path: join(ctx.resultsDir, 'preview-actual-size.png') });
      // Keyboard: focus the viewer, "0" fits again.
      await frame.locator('#viewport').focus();
      await page.keyboard.press('0');
      await frame.locator('.viewer[data-mode="fit"]').waitFor({ timeout: 5_000 });
      ctx.log(`zoom label: ${await frame.locator('#zoom-level').textContent()}`);
      await page.screenshot({ path: join(ctx.resultsDir, 'preview-output.png') });
    },
  },
  {
    name: 'preview: the variants show as a grid with "Use this seed"',
    async run(ctx) {
      const { page } = await setUp(ctx);
      const frame = await previewFrame(page);
      await frame.locator('vscode-tab-header[data-tab="variants"]').click();
      const figures = frame.locator('#variants figure.variant');
      await figures.nth(2).waitFor({ timeout: 10_000 });
      assert.deepEqual(await figures.evaluateAll((nodes) => nodes.map((n) => n.dataset.seed)), ['1234', '7', '8']);
      assert.equal(await frame.locator('#variants figure[data-seed="7"] .use-seed').textContent(), 'Use this seed');
      assert.equal(await frame.locator('#variants figure.current .use-seed').textContent(), 'Current seed');
      await page.screenshot({ path: join(ctx.resultsDir, 'preview-variants.png') });
    },
  },
  {
    name: 'preview: a second render is compared with git HEAD in every diff mode, with the recipe diff beside it',
    async run(ctx) {
      const { page, folder } = await setUp(ctx);
      const frame = await previewFrame(page);
      writeFigure(join(folder, 'figure.png'), 'b');
      await frame.locator('vscode-tab-header[data-tab="history"]').click();
      const entries = frame.locator('#history .history-entry');
      // Working copy (green), the earlier render (red) and HEAD (red).
      const deadline = Date.now() + 30_000;
      while ((await entries.count()) < 3 || !(await frame.locator('#history .history-entry.git').count())) {
        if (Date.now() > deadline) assert.fail(`history shows ${await entries.count()} entries: ${await frame.locator('#history').innerText()}`);
        await new Promise((r) => setTimeout(r, 250));
      }
      assert.match(await entries.first().innerText(), /Working copy[\s\S]*prompt: −red \+green/);
      const changed = frame.locator('#stat-changed');
      await changed.waitFor({ timeout: 20_000 });
      assert.equal(await frame.locator('#diff-before option:checked').evaluate((o) => o.textContent.startsWith('HEAD')), true, 'the default diff is against git HEAD');
      const fraction = Number(/([\d.]+) %/.exec(await changed.textContent())?.[1]);
      assert.ok(fraction > 8 && fraction < 10.5, `changed pixels ${fraction} %`);
      assert.match(await frame.locator('#stat-psnr').textContent(), /^\d+\.\d\d dB$/);
      const promptRow = frame.locator('#recipe-table tr[data-field="prompt"]');
      assert.deepEqual(await promptRow.locator('ins').allTextContents(), ['green', ', soft shadows']);
      assert.deepEqual(await promptRow.locator('del').allTextContents(), ['red']);
      assert.match(await frame.locator('#recipe-table tr[data-field="steps"]').innerText(), /12\s*→\s*16/);
      ctx.log(`diff vs HEAD: ${await changed.textContent()}, PSNR ${await frame.locator('#stat-psnr').textContent()}`);
      await page.screenshot({ path: join(ctx.resultsDir, 'diff-side-by-side.png') });

      await frame.locator('#mode-swipe').click();
      await frame.locator('#diff-stack .layer-over').waitFor();
      await frame.locator('#diff-slider').fill('30');
      assert.match(await frame.locator('#diff-stack .layer-over').getAttribute('style'), /inset\(0px 70% 0px 0px\)|inset\(0 70% 0 0\)/);
      await page.screenshot({ path: join(ctx.resultsDir, 'diff-swipe.png') });

      await frame.locator('#mode-onion').click();
      assert.equal(await frame.locator('#diff-slider-label').textContent(), 'Opacity of the newer image');
      await frame.locator('#diff-slider').fill('40');
      assert.match(await frame.locator('#diff-stack .layer-over').getAttribute('style'), /opacity: 0\.4/);
      await page.screenshot({ path: join(ctx.resultsDir, 'diff-onion-skin.png') });

      await frame.locator('#mode-heatmap').click();
      await frame.locator('#heatmap[data-painted="true"]').waitFor({ timeout: 10_000 });
      assert.equal(await frame.locator('#mode-heatmap').getAttribute('aria-checked'), 'true');
      await page.screenshot({ path: join(ctx.resultsDir, 'diff-heatmap.png') });
    },
  },
  {
    name: 'preview: the provenance tab shows model hash, seed, versions and the AI-generated disclosure',
    async run(ctx) {
      const { page } = await setUp(ctx);
      const frame = await previewFrame(page);
      await frame.locator('vscode-tab-header[data-tab="provenance"]').click();
      const value = (label) => frame.locator(`#provenance-rows dd[data-label="${label}"]`);
      await value('Model hash').waitFor({ timeout: 15_000 });
      assert.equal(await value('Model hash').textContent(), 'sha256:5f1c0ffee');
      assert.equal(await value('Seed').textContent(), '1234');
      assert.equal(await value('RNG').textContent(), 'torch-cpu-mt19937');
      assert.equal(await value('Steps').textContent(), '16');
      assert.equal(await value('ONNX Runtime').textContent(), '1.30.0');
      assert.match(await frame.locator('#disclosure').textContent(), /AI-generated/);
      assert.equal(await frame.locator('#provenance-source').textContent(), 'Made by imgprompt');
      await page.screenshot({ path: join(ctx.resultsDir, 'preview-provenance.png') });
    },
  },
];
