// UI tests against the real workbench DOM (run by scripts/vscode-test/run.mjs): open a scene through
// Quick Open, check the grammar colours it, edit and save it with the keyboard.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { quickOpen } from './workbench.mjs';


/** The rendered tokens of the editor's visible lines: text (nbsp → space) and monaco's mtk colour class. */
function renderedTokens(editor) {
  return editor.locator('.view-line').evaluateAll((lines) =>
    lines.flatMap((line) =>
      [...line.querySelectorAll('span[class*="mtk"]')].map((span) => ({
        text: span.textContent.replace(/\u00a0/g, ' '),
        colour: [...span.classList].find((name) => /^mtk\d+$/.test(name)),
      })),
    ),
  );
}

/** Waits until the grammar has coloured the scene: keys, prompt text, numbers and the sampler differ. */
async function waitForColouring(editor) {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const tokens = await renderedTokens(editor);
    const colourOf = (text) => tokens.find((token) => token.text.trim() === text)?.colour;
    const colours = {
      key: colourOf('model'),
      // Monaco splits tokens longer than 50 characters into several spans.
      prompt: tokens.find((token) => token.text.startsWith('a red circle above'))?.colour,
      number: colourOf('1234'),
      sampler: colourOf('euler_a'),
      comment: tokens.find((token) => token.text.startsWith('# A sample scene'))?.colour,
    };
    const distinct = new Set(Object.values(colours));
    if (!distinct.has(undefined) && distinct.size === 5) return colours;
    if (Date.now() > deadline) assert.fail(`syntax colouring never distinguished keys, prompt text, numbers, samplers and comments: ${JSON.stringify(colours)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

export const tests = [
  {
    name: 'a scene opened through Quick Open is an imgprompt editor with syntax colouring',
    async run({ openWorkbench, resultsDir, log }) {
      const { page } = await openWorkbench();
      const editor = await quickOpen(page, 'scene.imgprompt', 'flat vector illustration');
      const colours = await waitForColouring(editor);
      log(`token colours: ${JSON.stringify(colours)}`);
      const languageStatus = page.locator('[id="status.editor.mode"]');
      await languageStatus.filter({ hasText: 'imgprompt' }).waitFor({ timeout: 10_000 });
      await page.screenshot({ path: join(resultsDir, 'editor-scene.png') });
    },
  },
  {
    name: 'editing the prompt with the keyboard and saving writes the file',
    async run({ openWorkbench, resultsDir }) {
      const { page, folder } = await openWorkbench();
      const editor = await quickOpen(page, 'scene.imgprompt', 'flat vector illustration');
      await editor.locator('.view-line', { hasText: 'flat vector illustration' }).click();
      await page.keyboard.press('End');
      await page.keyboard.type(', soft shadows');
      await page.keyboard.press('Control+S');
      const scene = join(folder, 'scene.imgprompt');
      const deadline = Date.now() + 15_000;
      while (!readFileSync(scene, 'utf8').includes('flat vector illustration, soft shadows\n')) {
        if (Date.now() > deadline) assert.fail(`saving did not write the edit to ${scene}:\n${readFileSync(scene, 'utf8')}`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // The edited text is still prompt text: it keeps the prompt's colour.
      const tokens = await renderedTokens(editor);
      const edited = tokens.find((token) => token.text.includes('soft shadows'));
      const key = tokens.find((token) => token.text === 'prompt');
      assert.ok(edited && key && edited.colour !== key.colour, `edited prompt coloured like a key: ${JSON.stringify({ edited, key })}`);
      await page.screenshot({ path: join(resultsDir, 'editor-scene-edited.png') });
    },
  },
];
