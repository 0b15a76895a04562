// Owns the preview panels. Like the built-in Markdown preview, one unlocked preview follows the active
// scene editor while locked ones stay on their scene; panels come back after a reload through the
// WebviewPanelSerializer. Render events (steps, outputs, failures) are forwarded to the panels that
// show the scene concerned, and every finished render is kept in the render history.
import { join } from 'node:path';
import * as vscode from 'vscode';
import type { C2paView, OutputFreshness, PreviewWebviewState } from '../../shared/protocol';
import type { OutputReport } from '../render/outputStatus';
import { GitHistory } from '../history/gitHistory';
import { RenderHistory } from '../history/renderHistory';
import type { RenderEvents } from '../render/renderEvents';
import { Disposable } from '../util/disposable';
import { ScenePreview, type PreviewServices, type PreviewTarget } from './scenePreview';
import type { WatermarkFinding } from '../../engine/editor';

export const PREVIEW_VIEW_TYPE = 'imgprompt.preview';
const LANGUAGE_ID = 'imgprompt';

export interface PreviewManagerOptions {
  /** Cancels the render of `scene`; the Cancel button in the preview calls it. */
  readonly cancelRender?: (scene: vscode.Uri) => void;
  /** The PNG a scene writes (e.g. SceneAnalyzer.outputPath); by default its `output:` or NAME.png beside it. */
  readonly outputPathOf?: (scene: vscode.Uri, text: string) => string | undefined;
  /** The renderer's last word on `output` of `scene` (e.g. from OutputStatus.reported). */
  readonly outputState?: (scene: vscode.Uri, output: string) => OutputReport['freshness'] | undefined;
  /** Follow the active editor (imgprompt.previewFollowsEditor); read on every editor change. */
  readonly followsEditor?: () => boolean;
  /** An image's Content Credentials for the provenance tab (read in the render worker). */
  readonly readC2pa?: (file: string) => Promise<C2paView>;
  /** Searches an image's pixels for the watermark (in the render worker). */
  readonly detectWatermark?: (file: string) => Promise<WatermarkFinding>;
}

export class PreviewManager extends Disposable implements vscode.WebviewPanelSerializer<PreviewWebviewState> {
  private readonly previews = new Set<ScenePreview>();
  /** Recipe hash of the last output the render service reported per PNG path: proves "up to date". */
  private readonly rendered = new Map<string, string>();
  private readonly services: PreviewServices;

  /** Builds the manager, registers its serializer and tracks it in `context.subscriptions`. */
  static register(context: vscode.ExtensionContext, renderEvents: RenderEvents, log: vscode.LogOutputChannel, options: PreviewManagerOptions = {}): PreviewManager {
    const manager = new PreviewManager(context, renderEvents, log, options);
    context.subscriptions.push(manager);
    manager.register(vscode.window.registerWebviewPanelSerializer(PREVIEW_VIEW_TYPE, manager));
    return manager;
  }

  constructor(
    context: Pick<vscode.ExtensionContext, 'extensionUri' | 'globalStorageUri'>,
    renderEvents: RenderEvents,
    private readonly log: vscode.LogOutputChannel,
    private readonly options: PreviewManagerOptions = {},
  ) {
    super();
    const storage = context.globalStorageUri.fsPath;
    this.services = {
      extensionUri: context.extensionUri,
      storageUri: context.globalStorageUri,
      history: new RenderHistory(join(storage, 'history')),
      git: new GitHistory(join(storage, 'git'), log),
      log,
      ...(options.cancelRender ? { cancelRender: options.cancelRender } : {}),
      outputPathOf: (scene, text) => options.outputPathOf?.(scene, text),
      freshnessOf: (scene, output, storedHash) => this.freshnessOf(scene, output, storedHash),
      onDidChangeLock: () => this.followActiveEditor(),
      ...(options.readC2pa ? { readC2pa: options.readC2pa } : {}),
      ...(options.detectWatermark ? { detectWatermark: options.detectWatermark } : {}),
    };
    this.register(vscode.window.onDidChangeActiveTextEditor(() => this.followActiveEditor()));
    this.register(renderEvents.onDidStart(({ scene, totalSteps, jobs }) => this.forScene(scene, (p) => p.post({ type: 'renderStarted', totalSteps, jobs }))));
    this.register(
      renderEvents.onDidStep((s) =>
        this.forScene(s.scene, (p) => p.post({ type: 'renderStep', job: s.job, jobs: s.jobs, step: s.step, totalSteps: s.totalSteps, width: s.width, height: s.height, rgb: s.rgb })),
      ),
    );
    this.register(
      renderEvents.onDidRender((output) => {
        this.rendered.set(output.output.fsPath, output.hash);
        void this.services.history
          .record(output.scene.toString(), output.output.fsPath, { key: output.hash, seed: output.seed, recipe: output.recipe })
          .catch((error: unknown) => log.warn(`render history: ${String(error)}`));
      }),
    );
    this.register(
      renderEvents.onDidFinish(({ scene }) =>
        this.forScene(scene, (p) => {
          p.post({ type: 'renderEnded', outcome: 'rendered' });
          p.scheduleRefresh(0);
        }),
      ),
    );
    this.register(renderEvents.onDidFail(({ scene, message, cancelled }) => this.forScene(scene, (p) => p.post({ type: 'renderEnded', outcome: cancelled ? 'cancelled' : 'failed', message }))));
    this.register({ dispose: () => [...this.previews].forEach((p) => p.panel.dispose()) });
  }

  /** The open previews (tests and the render service inspect them). */
  get panels(): readonly ScenePreview[] {
    return [...this.previews];
  }

  /** Shows `scene` in the following preview (created beside the editor when there is none). */
  async openPreview(scene: vscode.Uri, viewColumn: vscode.ViewColumn = vscode.ViewColumn.Beside): Promise<ScenePreview> {
    const target: PreviewTarget = { kind: 'scene', uri: scene };
    const existing = [...this.previews].find((p) => p.isScene(scene)) ?? [...this.previews].find((p) => !p.isLocked && p.currentTarget.kind === 'scene');
    if (existing) {
      existing.show(target);
      existing.panel.reveal(existing.panel.viewColumn ?? viewColumn, true);
      return existing;
    }
    return this.create(target, false, viewColumn);
  }

  /**
   * Show Image Provenance for any PNG (ours read fully; AUTOMATIC1111 / ComfyUI / InvokeAI read-only with
   * Import as Scene). The language features' `imgprompt.showProvenance` command can route here.
   */
  async showProvenance(png: vscode.Uri, viewColumn: vscode.ViewColumn = vscode.ViewColumn.Beside): Promise<ScenePreview> {
    const existing = [...this.previews].find((p) => p.currentTarget.kind === 'png' && p.currentTarget.uri.toString() === png.toString());
    if (existing) {
      existing.panel.reveal(existing.panel.viewColumn ?? viewColumn, true);
      existing.scheduleRefresh(0);
      return existing;
    }
    return this.create({ kind: 'png', uri: png }, true, viewColumn);
  }

  /** Called by VS Code when it restores a preview panel after a reload. */
  async deserializeWebviewPanel(panel: vscode.WebviewPanel, state: PreviewWebviewState | undefined): Promise<void> {
    const uri = state?.sceneUri ?? state?.pngUri;
    if (!uri) {
      // Nothing to restore (the page never saved its state): close rather than show an empty panel.
      panel.dispose();
      return;
    }
    const target: PreviewTarget = state?.sceneUri ? { kind: 'scene', uri: vscode.Uri.parse(uri, true) } : { kind: 'png', uri: vscode.Uri.parse(uri, true) };
    this.adopt(panel, target, state?.locked ?? false);
  }

  private create(target: PreviewTarget, locked: boolean, viewColumn: vscode.ViewColumn): ScenePreview {
    const panel = vscode.window.createWebviewPanel(PREVIEW_VIEW_TYPE, 'Preview', { viewColumn, preserveFocus: true }, { enableScripts: true, retainContextWhenHidden: true, enableFindWidget: true });
    return this.adopt(panel, target, locked);
  }

  private adopt(panel: vscode.WebviewPanel, target: PreviewTarget, locked: boolean): ScenePreview {
    const preview = new ScenePreview(panel, target, locked, this.services);
    this.previews.add(preview);
    preview.onDidDispose(() => this.previews.delete(preview));
    preview.scheduleRefresh(0);
    return preview;
  }

  private followActiveEditor(): void {
    if (this.options.followsEditor && !this.options.followsEditor()) return;
    const document = vscode.window.activeTextEditor?.document;
    if (!document || document.languageId !== LANGUAGE_ID) return;
    for (const preview of this.previews) {
      if (!preview.isLocked && preview.currentTarget.kind === 'scene') preview.show({ kind: 'scene', uri: document.uri });
    }
  }

  private forScene(scene: vscode.Uri, action: (preview: ScenePreview) => void): void {
    for (const preview of this.previews) if (preview.isScene(scene)) action(preview);
  }

  private freshnessOf(scene: vscode.Uri, output: string, storedHash: string | undefined): { state: OutputFreshness; reason?: string } | undefined {
    const reported = this.options.outputState?.(scene, output);
    if (reported) return reported;
    const dirty = vscode.workspace.textDocuments.some((d) => d.uri.toString() === scene.toString() && d.isDirty);
    const last = this.rendered.get(output);
    if (!dirty && last !== undefined && storedHash !== undefined) return last === storedHash ? { state: 'up-to-date' } : { state: 'stale', reason: 'the file on disk is not the last render' };
    return undefined;
  }

  override dispose(): void {
    this.log.debug('preview manager disposed');
    super.dispose();
  }
}
