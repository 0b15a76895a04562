// The preview panel inside the real extension host: a PreviewManager of the test's own, fed by fake
// render events, opens panels with a strict CSP, sends typed state, answers typed requests (diff,
// provenance, cancel, use this seed), forwards step previews, follows the active editor unless locked,
// and restores panels through its serializer.
/// <reference types="mocha" />
import * as assert from 'node:assert/strict';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { PREVIEW_VIEW_TYPE, PreviewManager } from '../../../src/extension/preview/previewManager';
import type { ScenePreview } from '../../../src/extension/preview/scenePreview';
import type { RenderedOutput, RenderEvents, RenderFailure, RenderStepPreview } from '../../../src/extension/render/renderEvents';
import type { HostToWebview, PreviewState } from '../../../src/shared/protocol';
import { closeAllEditors, EXTENSION_ID, waitFor, workspaceFile } from './helpers';
import { encodePixelsToPng } from '../../../src/engine/output/encodePng';
import { insertPngText } from '../../../src/engine/output/pngText';
import { fixturePixels, fixturePng } from './previewFixtures';

const SCENE = `# The preview test scene: comments and layout must survive "use this seed".
model: tiny-shapes
prompt: a red circle above a blue square, flat vector illustration
seed: 1234   # chosen by hand
variants: {seeds: [7, 8]}
output: preview-out/figure.png
`;

class FakeRenderEvents implements RenderEvents {
  readonly start = new vscode.EventEmitter<{ scene: vscode.Uri; totalSteps: number; jobs: number }>();
  readonly step = new vscode.EventEmitter<RenderStepPreview>();
  readonly rendered = new vscode.EventEmitter<RenderedOutput>();
  readonly finish = new vscode.EventEmitter<{ scene: vscode.Uri; outputs: readonly RenderedOutput[] }>();
  readonly fail = new vscode.EventEmitter<RenderFailure>();
  readonly onDidStart = this.start.event;
  readonly onDidStep = this.step.event;
  readonly onDidRender = this.rendered.event;
  readonly onDidFinish = this.finish.event;
  readonly onDidFail = this.fail.event;
}

async function write(uri: vscode.Uri, bytes: Uint8Array | string): Promise<void> {
  await vscode.workspace.fs.writeFile(uri, typeof bytes === 'string' ? new TextEncoder().encode(bytes) : bytes);
}

/** Resolves with the first message `preview` posts that satisfies `match`. */
function nextMessage<T extends HostToWebview>(preview: ScenePreview, match: (m: HostToWebview) => m is T, timeoutMs = 10_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      listener.dispose();
      reject(new Error(`no matching message within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = preview.onDidPostMessage((m) => {
      if (!match(m)) return;
      clearTimeout(timer);
      listener.dispose();
      resolve(m);
    });
  });
}

async function stateWhere(preview: ScenePreview, what: string, condition: (s: PreviewState) => boolean): Promise<PreviewState> {
  await waitFor(what, () => preview.state !== undefined && condition(preview.state), 15_000);
  return preview.state as PreviewState;
}

suite('imgprompt preview panel', () => {
  let events: FakeRenderEvents;
  let manager: PreviewManager;
  let cancelled: vscode.Uri[];
  let scene: vscode.Uri;
  let output: vscode.Uri;
  const log = vscode.window.createOutputChannel('imgprompt preview tests', { log: true });

  suiteSetup(async () => {
    const extension = vscode.extensions.getExtension(EXTENSION_ID);
    assert.ok(extension, `extension ${EXTENSION_ID} is not installed`);
    await extension.activate();
    events = new FakeRenderEvents();
    cancelled = [];
    const storage = vscode.Uri.file(join(tmpdir(), `imgprompt-preview-test-${process.pid}-${Date.now()}`));
    manager = new PreviewManager({ extensionUri: extension.extensionUri, globalStorageUri: storage }, events, log, { cancelRender: (s) => cancelled.push(s) });
    scene = workspaceFile('preview-test', 'figure.imgprompt');
    output = workspaceFile('preview-test', 'preview-out', 'figure.png');
    await write(scene, SCENE);
    await write(output, await fixturePng('a'));
  });

  suiteTeardown(() => {
    manager.dispose();
    log.dispose();
  });

  teardown(closeAllEditors);

  test('opens a panel beside the editor with a strict CSP and a fresh nonce, and sends the state', async () => {
    const preview = await manager.openPreview(scene);
    assert.equal(preview.panel.viewType, PREVIEW_VIEW_TYPE);
    assert.equal(preview.panel.title, 'Preview figure.imgprompt');
    const html = preview.panel.webview.html;
    assert.match(html, /default-src 'none'/);
    assert.match(html, new RegExp(`img-src ${preview.panel.webview.cspSource.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')};`));
    const nonce = /script-src 'nonce-([A-Za-z0-9+/=]{24})'/.exec(html)?.[1];
    assert.ok(nonce, 'script-src carries a 128-bit nonce');
    assert.match(html, new RegExp(`<script nonce="${nonce.replace(/[+/=]/g, '\\$&')}" src=`));
    assert.doesNotMatch(html, /unsafe-inline|unsafe-eval|data:/);

    const state = await stateWhere(preview, 'the first state', (s) => s.output !== undefined);
    assert.equal(state.sceneName, 'figure.imgprompt');
    assert.equal(state.outputName, 'figure.png');
    assert.equal(state.prompt, 'a red circle above a blue square, flat vector illustration');
    assert.ok(state.output?.src.startsWith(preview.panel.webview.asWebviewUri(output).with({ query: '' }).toString().replace(/\?$/, '')), `image URI ${state.output?.src} is a webview resource URI`);
    assert.match(state.output?.alt ?? '', /a red circle above a blue square/);
    assert.deepEqual(state.variants.map((v) => [v.seed, v.current, v.image !== undefined]), [['1234', true, true], ['7', false, false], ['8', false, false]]);
    assert.equal(state.history[0]?.kind, 'working');
    assert.equal(state.persist.sceneUri, scene.toString());
    assert.equal(state.locked, false);
  });

  test('a second render shows up in the history with its recipe change, and diffs against the first', async () => {
    const preview = await manager.openPreview(scene);
    await stateWhere(preview, 'the first render in the state', (s) => s.output !== undefined);
    await write(output, await fixturePng('b'));
    const state = await stateWhere(preview, 'two versions in the history', (s) => s.history.length >= 2);
    assert.deepEqual(state.history.map((h) => h.kind), ['working', 'render']);
    assert.match(state.history[0].change, /prompt: −red \+green \+soft shadows/);
    assert.match(state.history[0].change, /steps 12→16/);
    assert.deepEqual(state.defaultDiff, { before: state.history[1].image.id, after: 'working' });

    const diff = await preview.answer('diff', state.defaultDiff ?? { before: '', after: '' });
    assert.ok(diff.pixels, diff.pixelNote);
    // The circle (radius 22, ~1517 px of 16384) changed colour and nothing else did: 9.26 %.
    assert.ok(Math.abs(diff.pixels.changedFraction - 1517 / 16384) < 0.005, `changed fraction ${diff.pixels.changedFraction}`);
    assert.ok(diff.pixels.psnr !== null && diff.pixels.psnr > 5 && diff.pixels.psnr < 30, `psnr ${diff.pixels.psnr}`);
    assert.equal(diff.pixels.magnitude.length, 128 * 128);
    assert.deepEqual(diff.recipe.map((f) => f.field), ['prompt', 'steps']);
    const prompt = diff.recipe.find((f) => f.field === 'prompt');
    assert.deepEqual(prompt?.words?.filter((w) => w.kind !== 'same').map((w) => `${w.kind}:${w.text.trim()}`), ['removed:red', 'added:green', 'added:, soft shadows']);

    const same = await preview.answer('diff', { before: 'working', after: 'working' });
    assert.equal(same.pixels?.psnr, null, 'identical images have infinite PSNR (null in JSON)');
    assert.equal(same.pixels?.changedFraction, 0);
    await assert.rejects(preview.answer('diff', { before: 'nope', after: 'working' }), /has no image 'nope'.*known: /);
  });

  test('provenance of the output: model hash, seed, RNG, versions and the AI disclosure', async () => {
    const preview = await manager.openPreview(scene);
    await stateWhere(preview, 'the output', (s) => s.output !== undefined);
    const view = await preview.answer('provenance', { image: 'working' });
    const row = (label: string) => view.rows.find((r) => r.label === label)?.value;
    assert.equal(view.source, 'imgprompt');
    assert.equal(view.foreign, false);
    assert.equal(view.aiGenerated, true);
    assert.match(view.disclosure, /AI-generated/);
    assert.equal(row('Model'), 'tiny-shapes');
    assert.equal(row('Model hash'), 'sha256:5f1c0ffee');
    assert.equal(row('Seed'), '1234');
    assert.equal(row('RNG'), 'torch-cpu-mt19937');
    assert.equal(row('ONNX Runtime'), '1.30.0');
    assert.equal(row('Purpose'), 'Shows the preview in the extension tests.');
  });

  test('render events reach the panel: start, typed step previews, cancel through the callback, failure', async () => {
    const preview = await manager.openPreview(scene);
    await stateWhere(preview, 'the output', (s) => s.output !== undefined);
    const started = nextMessage(preview, (m): m is Extract<HostToWebview, { type: 'renderStarted' }> => m.type === 'renderStarted');
    events.start.fire({ scene, totalSteps: 12, jobs: 3 });
    assert.deepEqual(await started, { type: 'renderStarted', totalSteps: 12, jobs: 3 });
    const step = nextMessage(preview, (m): m is Extract<HostToWebview, { type: 'renderStep' }> => m.type === 'renderStep');
    events.step.fire({ scene, job: 0, jobs: 3, step: 4, totalSteps: 12, rgb: new Uint8Array(16 * 16 * 3).fill(128), width: 16, height: 16 });
    const stepMessage = await step;
    assert.equal(stepMessage.step, 4);
    assert.ok(stepMessage.rgb instanceof Uint8Array && stepMessage.rgb.length === 768);
    // Another scene's events are not this panel's business.
    let foreign = false;
    const listener = preview.onDidPostMessage((m) => (foreign ||= m.type === 'renderStarted'));
    events.start.fire({ scene: workspaceFile('other.imgprompt'), totalSteps: 1, jobs: 1 });
    listener.dispose();
    assert.equal(foreign, false);

    assert.deepEqual(await preview.answer('cancelRender', {}), { cancelled: true });
    assert.deepEqual(cancelled.map(String), [scene.toString()]);
    const ended = nextMessage(preview, (m): m is Extract<HostToWebview, { type: 'renderEnded' }> => m.type === 'renderEnded');
    events.fail.fire({ scene, message: 'cancelled by the user', cancelled: true });
    assert.equal((await ended).outcome, 'cancelled');
  });

  test('"use this seed" swaps the variant seed into seed: and keeps comments and layout', async () => {
    const preview = await manager.openPreview(scene);
    await stateWhere(preview, 'the output', (s) => s.output !== undefined);
    assert.deepEqual(await preview.answer('useSeed', { seed: '7' }), { written: true });
    const document = await vscode.workspace.openTextDocument(scene);
    assert.equal(document.getText(), SCENE.replace('seed: 1234   # chosen by hand', 'seed: 7   # chosen by hand').replace('{seeds: [7, 8]}', '{seeds: [1234, 8]}'));
    await document.save();
    await write(scene, SCENE);
  });

  test('the unlocked preview follows the active scene editor; a locked one stays', async () => {
    const other = workspaceFile('preview-test', 'other.imgprompt');
    await write(other, 'prompt: another figure\nseed: 3\n');
    const preview = await manager.openPreview(scene);
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(other), vscode.ViewColumn.One);
    await waitFor('the preview to follow the editor', () => preview.currentTarget.uri.toString() === other.toString());
    assert.equal(preview.panel.title, 'Preview other.imgprompt');
    await preview.answer('setLocked', { locked: true });
    assert.equal(preview.panel.title, '[Preview] other.imgprompt');
    await vscode.window.showTextDocument(await vscode.workspace.openTextDocument(scene), vscode.ViewColumn.One);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(preview.currentTarget.uri.toString(), other.toString());
    assert.equal(preview.webviewState.locked, true);
    preview.panel.dispose();
  });

  test('the serializer restores a panel from its saved state; the manifest activates on it', async () => {
    const manifest = vscode.extensions.getExtension(EXTENSION_ID)?.packageJSON as { activationEvents?: string[] };
    assert.ok(manifest.activationEvents?.includes(`onWebviewPanel:${PREVIEW_VIEW_TYPE}`), 'package.json activates on the preview panel so it can be restored');
    const panel = vscode.window.createWebviewPanel(PREVIEW_VIEW_TYPE, 'restored', vscode.ViewColumn.Two, {});
    await manager.deserializeWebviewPanel(panel, { sceneUri: scene.toString(), locked: true });
    const restored = manager.panels.find((p) => p.panel === panel);
    assert.ok(restored, 'the restored panel is managed');
    assert.equal(restored.currentTarget.uri.toString(), scene.toString());
    assert.equal(restored.isLocked, true);
    assert.equal(panel.title, '[Preview] figure.imgprompt');
    await stateWhere(restored, 'the restored state', (s) => s.output !== undefined);
    panel.dispose();
    await waitFor('the disposed panel to be forgotten', () => !manager.panels.some((p) => p.panel === panel));
  });

  test('Show Image Provenance for a PNG from another tool is read-only with Import as Scene', async () => {
    // The same pixels with only an AUTOMATIC1111 infotext, as that tool writes it.
    const bare = await encodePixelsToPng({ data: fixturePixels('a'), width: 128, height: 128, channels: 3 });
    const a1111 = workspaceFile('preview-test', 'a1111.png');
    await write(a1111, insertPngText(bare, [{ keyword: 'parameters', text: 'a cat in a hat\nNegative prompt: blurry\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 99, Size: 128x128, Model hash: abcdef1234, Model: sd15' }]));
    const preview = await manager.showProvenance(a1111);
    const message = await nextMessage(preview, (m): m is Extract<HostToWebview, { type: 'showProvenance' }> => m.type === 'showProvenance');
    assert.equal(message.provenance.source, 'automatic1111');
    assert.equal(message.provenance.foreign, true);
    assert.equal(message.provenance.aiGenerated, false);
    assert.equal(message.provenance.rows.find((r) => r.label === 'Seed')?.value, '99');
    assert.equal(preview.state?.provenanceOnly, true);
    assert.equal(preview.panel.title, 'Provenance a1111.png');
  });
});
