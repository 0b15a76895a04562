// The whole loop a user lives in, in the real workbench with the embedded model: open a scene, open its
// preview, edit the prompt, save, and see the new figure in the preview. Prints (does not assert) the
// save → updated-preview time and the extension's activation time. Screenshots: render-*.png.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { quickOpen, runCommand } from './workbench.mjs';

const SCENE = `# The render UI test's scene.
model: tiny-shapes
prompt: a large red circle on the left, blue background
seed: 11
steps: 16
purpose: Shows save-to-preview in the extension's UI tests.
`;



/** The first frame (of the webviews' nested iframes) holding an image whose alt text matches. */
async function previewImage(page, altPattern, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    for (const frame of page.frames()) {
      const alts = await frame.locator('img[alt]').evaluateAll((images) => images.map((i) => i.alt)).catch(() => []);
      if (alts.some((alt) => altPattern.test(alt))) return frame;
    }
    if (Date.now() > deadline) return undefined;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const tests = [
  {
    name: 'render: edit the prompt, save, and the preview shows the new figure',
    async run({ openWorkbench, resultsDir, log }) {
      const { page, folder } = await openWorkbench();
      writeFileSync(join(folder, 'loop.imgprompt'), SCENE);
      const editor = await quickOpen(page, 'loop.imgprompt', 'large red circle');
      await runCommand(page, 'imgprompt: Open Preview');
      // The first edit and save renders (starting the worker and loading the model): seed 11 → 12.
      await editor.locator('.view-line', { hasText: 'seed: 11' }).click();
      await page.keyboard.press('End');
      await page.keyboard.press('Backspace');
      await page.keyboard.type('2');
      await page.keyboard.press('Control+S');
      const png = join(folder, 'loop.png');
      const firstDeadline = Date.now() + 90_000;
      while (!existsSync(png)) {
        if (Date.now() > firstDeadline) assert.fail('the first save did not render loop.png');
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.ok(await previewImage(page, /red circle/, 30_000), 'the preview never showed the first figure');
      await page.screenshot({ path: join(resultsDir, 'render-first.png') });

      // Edit one word and save: measure until the preview shows the figure for the new prompt.
      await editor.locator('.view-line', { hasText: 'large red circle' }).click();
      await page.keyboard.press('Home');
      await page.keyboard.press('End');
      for (let i = 0; i < 'red circle on the left, blue background'.length; i++) await page.keyboard.press('Shift+ArrowLeft');
      await page.keyboard.type('green circle on the left, blue background');
      const saved = Date.now();
      await page.keyboard.press('Control+S');
      const frame = await previewImage(page, /green circle/, 60_000);
      const elapsed = Date.now() - saved;
      assert.ok(frame, 'the preview never showed the edited figure');
      log(`save → updated preview: ${elapsed} ms (embedded model, 16 steps, warm worker)`);
      assert.match(readFileSync(join(folder, 'loop.imgprompt'), 'utf8'), /prompt: a large green circle on the left, blue background/);
      await page.screenshot({ path: join(resultsDir, 'render-edited.png') });

      // The extension logs its activation time in its Output channel.
      await runCommand(page, 'imgprompt: Show Log');
      const activation = page.locator('.output-view .view-line', { hasText: 'imgprompt activated in' }).first();
      if (await activation.waitFor({ timeout: 10_000 }).then(() => true, () => false)) {
        log(`activation: ${(await activation.textContent())?.replace(/\u00a0/g, ' ').match(/activated in [\d.]+ ms/)?.[0] ?? 'see the log'}`);
      }
      await page.screenshot({ path: join(resultsDir, 'render-log.png') });
    },
  },
];
