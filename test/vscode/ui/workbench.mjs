// Keyboard-driven helpers for the UI suites: open a file through Quick Open and run a command from the
// command palette, waiting for what the workbench shows rather than for fixed delays.

/**
 * Opens `fileName` with Quick Open (Ctrl+P) and waits for its editor to show `expectedText`; returns the
 * editor's locator.
 */
export async function quickOpen(page, fileName, expectedText) {
  await page.locator('.explorer-folders-view').waitFor({ timeout: 60_000 });
  const input = page.locator('.quick-input-widget input');
  for (let attempt = 0; attempt < 3 && !(await input.isVisible()); attempt++) {
    await page.keyboard.press('Control+P');
    await input.waitFor({ timeout: 5_000 }).catch(() => {});
  }
  // File search runs in the extension host, which may still be starting: results can take a while.
  await input.fill(fileName);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: fileName }).first().waitFor({ timeout: 90_000 });
  await page.keyboard.press('Enter');
  const editor = page.locator('.editor-instance .monaco-editor').first();
  await editor.locator('.view-lines', { hasText: expectedText }).waitFor({ timeout: 20_000 });
  return editor;
}

/** Runs the command titled `title` (e.g. `imgprompt: Open Preview`) from the command palette (F1). */
export async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor({ timeout: 10_000 });
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor({ timeout: 20_000 });
  await page.keyboard.press('Enter');
}
