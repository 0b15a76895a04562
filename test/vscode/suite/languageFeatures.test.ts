// Completion, hover and CodeLens in a real VS Code, through the same provider commands the editor uses.
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { lensCommands } from '../../../src/extension/codelens/sceneCodeLensProvider';
import { closeAllEditors, openScratch } from './helpers';
import { extensionApi, openScene, resetModelPaths, useFixtureModels, writeWorkspaceFile } from './languageSupport';

async function completionLabels(uri: vscode.Uri, position: vscode.Position): Promise<string[]> {
  const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', uri, position);
  return list.items.map((i) => (typeof i.label === 'string' ? i.label : i.label.label));
}

async function hoverText(uri: vscode.Uri, position: vscode.Position): Promise<string> {
  const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, position);
  return hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n---\n');
}

/** A safetensors file with kohya metadata (format: 8-byte LE header length + JSON header + data). */
function loraBytes(): Uint8Array {
  const header = JSON.stringify({
    __metadata__: { ss_network_dim: '4', ss_base_model_version: 'sd_v1', ss_output_name: 'ink' },
    'lora_unet_mid_block_attentions_0_proj_in.lora_down.weight': { dtype: 'F32', shape: [4, 8], data_offsets: [0, 128] },
  });
  const length = new Uint8Array(8);
  new DataView(length.buffer).setUint32(0, header.length, true);
  const bytes = new Uint8Array(8 + header.length + 128);
  bytes.set(length, 0);
  bytes.set(new TextEncoder().encode(header), 8);
  return bytes;
}

suite('imgprompt completion, hover and CodeLens', () => {
  suiteSetup(async () => {
    await extensionApi();
    await useFixtureModels();
    await writeWorkspaceFile('loras/ink.safetensors', loraBytes());
  });
  suiteTeardown(resetModelPaths);
  teardown(closeAllEditors);

  test('after "sampler: " completion offers every sampler', async () => {
    const editor = await openScratch('prompt: a red circle\nsampler: \n');
    const labels = await completionLabels(editor.document.uri, new vscode.Position(1, 'sampler: '.length));
    for (const sampler of ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'lcm']) assert.ok(labels.includes(sampler), `missing ${sampler} in ${labels.join(', ')}`);
    assert.ok(!labels.includes('karras'), 'schedules are not samplers');
  });

  test('at the start of a line completion offers the keys not yet written', async () => {
    const editor = await openScratch('prompt: a red circle\n\n');
    const labels = await completionLabels(editor.document.uri, new vscode.Position(1, 0));
    for (const key of ['model', 'seed', 'sampler', 'loras', 'size']) assert.ok(labels.includes(key), `missing ${key}`);
    assert.ok(!labels.includes('prompt'), 'prompt is already there');
  });

  test('model names come from the configured model folders; LoRA paths are relative to the scene', async () => {
    const editor = await openScene('completion.imgprompt', 'prompt: x\nmodel: \nloras:\n  - file: \n', () => true);
    const models = await completionLabels(editor.document.uri, new vscode.Position(1, 'model: '.length));
    assert.ok(models.includes('tiny-shapes') && models.includes('sd15'), `models: ${models.join(', ')}`);
    const loras = await completionLabels(editor.document.uri, new vscode.Position(3, '  - file: '.length));
    assert.ok(loras.includes('loras/ink.safetensors'), `loras: ${loras.join(', ')}`);
  });

  test('hover on a key shows its documentation; on a sampler value, what it is', async () => {
    const editor = await openScratch('prompt: a red circle\nsampler: euler_a\n');
    assert.match(await hoverText(editor.document.uri, new vscode.Position(1, 2)), /\*\*sampler\*\*[\s\S]*Sampling algorithm/);
    assert.match(await hoverText(editor.document.uri, new vscode.Position(1, 11)), /Euler ancestral/);
  });

  test('hover on model shows the model card; on a LoRA path, its header metadata', async () => {
    const editor = await openScene('hover.imgprompt', 'model: tiny-shapes\nprompt: x\nloras:\n  - file: loras/ink.safetensors\n', () => true);
    const card = await hoverText(editor.document.uri, new vscode.Position(0, 10));
    assert.match(card, /\*\*tiny-shapes\*\* — from the configured model folders/);
    assert.match(card, /native size 128×128, sizes in multiples of 32 px/);
    const lora = await hoverText(editor.document.uri, new vscode.Position(3, 14));
    assert.match(lora, /rank 4, patches the UNet/);
    assert.match(lora, /trained base: sd_v1/);
  });

  test('license: completes the licence ids imgprompt knows; the hover on model shows the scene licence over the card', async () => {
    const editor = await openScene('licensed.imgprompt', 'model: tiny-shapes\nprompt: x\nlicense: openrail-m\n', () => true);
    const ids = await completionLabels(editor.document.uri, new vscode.Position(2, 'license: '.length));
    for (const id of ['openrail-m', 'flux-1-dev-non-commercial-license', 'mit']) assert.ok(ids.includes(id), `missing ${id} in ${ids.join(', ')}`);
    const card = await hoverText(editor.document.uri, new vscode.Position(0, 10));
    assert.match(card, /\*\*Licence:\*\* OpenRAIL-M, use restrictions \(from the scene's license:\)/);
  });

  test('CodeLens at the top: Render · Open Preview · Verify, each on this scene', async () => {
    const editor = await openScratch('prompt: a red circle\n');
    const lenses = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', editor.document.uri);
    const ours = lenses.filter((l) => l.command?.command.startsWith('imgprompt.'));
    assert.deepEqual(ours.map((l) => [l.range.start.line, l.command?.title, l.command?.command]), [
      [0, '$(play) Render', 'imgprompt.render'],
      [0, '$(open-preview) Open Preview', 'imgprompt.openPreview'],
      [0, '$(check) Verify', 'imgprompt.verify'],
    ]);
    assert.equal(String(ours[0].command?.arguments?.[0]), String(editor.document.uri));
  });

  test('while a scene renders, its CodeLens shows progress and Cancel', () => {
    assert.deepEqual(lensCommands({ kind: 'rendering', stage: 'denoising', step: 3, totalSteps: 12 }).map((c) => [c.title, c.command]), [
      ['$(sync~spin) Rendering (denoising) 3/12', 'imgprompt.openPreview'],
      ['$(close) Cancel', 'imgprompt.cancelRender'],
    ]);
    assert.deepEqual(lensCommands({ kind: 'queued' }).map((c) => c.title), ['$(clock) Queued', '$(close) Cancel']);
  });

  test('in Markdown, `![` completes the workspace figures with an alt text that discloses AI generation', async () => {
    await writeWorkspaceFile('docs-figures/orbit.imgprompt', 'model: tiny-shapes\nprompt: a yellow circle orbiting a blue square\nseed: 3\noutput: orbit-figure.png\n');
    const doc = await writeWorkspaceFile('docs-figures/page.md', '# Page\n\n![\n');
    const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', doc, new vscode.Position(2, 2), '[');
    const item = list.items.find((i) => String(typeof i.insertText === 'string' ? i.insertText : i.insertText?.value).includes('orbit-figure.png'));
    assert.ok(item, `no figure completion among ${list.items.length} items`);
    assert.match(String(item.insertText), /^!\[a yellow circle orbiting a blue square \(AI-generated image, tiny-shapes, \d{4}-\d{2}-\d{2}\)\]\(orbit-figure\.png\)$/);
  });
});

