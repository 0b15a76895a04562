// One preview panel: shows a scene's current output, its variants, its history (earlier renders and git
// versions) and diffs between any two, and the provenance of each image; or, for Show Image Provenance,
// just one PNG. Answers the webview's typed requests; PreviewManager decides which scene it shows.
import { watermarkInFile, watermarkRow, type WatermarkSearch } from './watermarkCheck';
import { readImageReport } from './imageReport';
import { stat } from 'node:fs/promises';
import { basename, dirname, isAbsolute, resolve } from 'node:path';
import * as vscode from 'vscode';
import { readImageMetadataFile, parseScene, sceneOutputPath, variantOutputPath } from '../../engine/editor';
import type {
  C2paView,
  HistoryEntryView,
  HostToWebview,
  ImageView,
  OutputFreshness,
  PreviewMethod,
  PreviewRequests,
  PreviewState,
  PreviewWebviewState,
  VariantView,
  WebviewToHost,
} from '../../shared/protocol';
import type { GitHistory } from '../history/gitHistory';
import type { RenderHistory } from '../history/renderHistory';
import { Disposable } from '../util/disposable';
import { changeSummary } from './changeSummary';
import { diffRenders } from './imageDiffer';
import { previewHtml } from './previewHtml';
import { PREPROCESSED_HINT_LABEL, provenanceView } from './provenanceModel';
import { seedEdits } from './seedEdit';

export type PreviewTarget = { readonly kind: 'scene'; readonly uri: vscode.Uri } | { readonly kind: 'png'; readonly uri: vscode.Uri };

/** What every panel shares, supplied by PreviewManager. */
export interface PreviewServices {
  readonly extensionUri: vscode.Uri;
  readonly storageUri: vscode.Uri;
  readonly history: RenderHistory;
  readonly git: GitHistory;
  readonly log: vscode.LogOutputChannel;
  readonly cancelRender?: (scene: vscode.Uri) => void;
  readonly outputPathOf: (scene: vscode.Uri, text: string) => string | undefined;
  readonly freshnessOf: (scene: vscode.Uri, output: string, storedHash: string | undefined) => { state: OutputFreshness; reason?: string } | undefined;
  readonly onDidChangeLock: (preview: ScenePreview) => void;
  /** Reads an image's C2PA manifest in the render worker; undefined when none can be asked (no worker). */
  readonly readC2pa?: (file: string) => Promise<C2paView>;
  /** Searches an image's pixels for the watermark in the render worker; rejects when there is none (Restricted Mode). */
  readonly detectWatermark?: WatermarkSearch;
}

/** An image known to the panel, by the id the webview uses. */
interface KnownImage {
  readonly file: string;
  readonly recipe?: Readonly<Record<string, unknown>>;
}

export class ScenePreview extends Disposable {
  private readonly images = new Map<string, KnownImage>();
  private readonly posted = this.register(new vscode.EventEmitter<HostToWebview>());
  private readonly disposedEmitter = this.register(new vscode.EventEmitter<void>());
  private watcher: vscode.Disposable | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<void> = Promise.resolve();
  private lastState: PreviewState | undefined;
  private ready = false;
  private readonly queuedUntilReady: HostToWebview[] = [];

  /** Every message posted to the webview (extension-host tests observe the panel through it). */
  readonly onDidPostMessage = this.posted.event;
  readonly onDidDispose = this.disposedEmitter.event;

  constructor(
    readonly panel: vscode.WebviewPanel,
    private target: PreviewTarget,
    private locked: boolean,
    private readonly services: PreviewServices,
  ) {
    super();
    this.configureWebview();
    const scriptUri = panel.webview.asWebviewUri(vscode.Uri.joinPath(services.extensionUri, 'out', 'webview.js'));
    const styleUri = panel.webview.asWebviewUri(vscode.Uri.joinPath(services.extensionUri, 'out', 'webview.css'));
    panel.webview.html = previewHtml(panel.webview, { script: scriptUri, style: styleUri }, 'imgprompt preview');
    this.register(panel.webview.onDidReceiveMessage((message: WebviewToHost) => this.onMessage(message)));
    this.register(
      panel.onDidDispose(() => {
        this.disposedEmitter.fire();
        this.dispose();
      }),
    );
    this.register({ dispose: () => this.watcher?.dispose() });
    this.register({ dispose: () => clearTimeout(this.refreshTimer) });
    this.register(vscode.workspace.onDidSaveTextDocument((document) => this.isScene(document.uri) && this.scheduleRefresh()));
    this.updateTitle();
    this.watchOutputs();
  }

  get currentTarget(): PreviewTarget {
    return this.target;
  }

  get isLocked(): boolean {
    return this.locked;
  }

  /** The state last sent to the webview (tests read it). */
  get state(): PreviewState | undefined {
    return this.lastState;
  }

  /** What the serializer stores to restore this panel after a reload. */
  get webviewState(): PreviewWebviewState {
    return this.target.kind === 'scene' ? { sceneUri: this.target.uri.toString(), locked: this.locked } : { pngUri: this.target.uri.toString(), locked: true };
  }

  isScene(uri: vscode.Uri): boolean {
    return this.target.kind === 'scene' && this.target.uri.toString() === uri.toString();
  }

  /** Switches the panel to another scene or PNG (following the active editor, or openPreview). */
  show(target: PreviewTarget): void {
    if (this.target.uri.toString() === target.uri.toString() && this.target.kind === target.kind) return;
    this.target = target;
    this.images.clear();
    this.configureWebview();
    this.updateTitle();
    this.watchOutputs();
    this.scheduleRefresh(0);
  }

  setLocked(locked: boolean): void {
    if (this.locked === locked) return;
    this.locked = locked;
    this.updateTitle();
    this.services.onDidChangeLock(this);
    this.scheduleRefresh(0);
  }

  /** Sends a message, holding it until the webview has said it is ready. */
  post(message: HostToWebview): void {
    this.posted.fire(message);
    if (!this.ready) {
      // Only the latest state matters; step previews before the page loaded are not worth keeping.
      if (message.type !== 'renderStep') this.queuedUntilReady.push(message);
      return;
    }
    void this.panel.webview.postMessage(message);
  }

  /** Re-reads the scene, its outputs and histories and sends the new state (coalesced). */
  scheduleRefresh(delayMs = 150): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = setTimeout(() => {
      this.refreshing = this.refreshing.then(() => this.refresh()).catch((error: unknown) => this.services.log.error(`preview refresh failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`));
    }, delayMs);
  }

  /** Resolves when the refresh in flight (if any) has finished; for tests and the manager. */
  async settled(): Promise<void> {
    await this.refreshing;
  }

  private configureWebview(): void {
    const roots = [
      vscode.Uri.joinPath(this.services.extensionUri, 'out'),
      this.services.storageUri,
      ...(vscode.workspace.workspaceFolders ?? []).map((f) => f.uri),
      vscode.Uri.file(dirname(this.target.uri.fsPath)),
    ];
    this.panel.webview.options = { enableScripts: true, localResourceRoots: roots };
  }

  private updateTitle(): void {
    const name = basename(this.target.uri.fsPath);
    this.panel.title = this.target.kind === 'png' ? `Provenance ${name}` : this.locked ? `[Preview] ${name}` : `Preview ${name}`;
  }

  private watchOutputs(): void {
    this.watcher?.dispose();
    const folder = dirname(this.target.uri.fsPath);
    const watcher = vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(folder), '*.png'));
    const changed = () => this.scheduleRefresh();
    this.watcher = vscode.Disposable.from(watcher, watcher.onDidChange(changed), watcher.onDidCreate(changed), watcher.onDidDelete(changed));
  }

  private async imageView(id: string, file: string, alt: string, recipe?: Readonly<Record<string, unknown>>): Promise<ImageView | undefined> {
    const info = await stat(file).catch(() => undefined);
    if (!info) return undefined;
    this.images.set(id, { file, ...(recipe ? { recipe } : {}) });
    // The query changes with the file, so the webview never shows a cached older render.
    const src = this.panel.webview.asWebviewUri(vscode.Uri.file(file)).with({ query: `v=${Math.round(info.mtimeMs)}-${info.size}` });
    const width = typeof recipe?.width === 'number' ? recipe.width : undefined;
    const height = typeof recipe?.height === 'number' ? recipe.height : undefined;
    return { id, src: src.toString(), alt, ...(width ? { width } : {}), ...(height ? { height } : {}) };
  }

  private async sceneText(uri: vscode.Uri): Promise<string> {
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === uri.toString());
    if (open) return open.getText();
    return new TextDecoder().decode(await vscode.workspace.fs.readFile(uri));
  }

  private async refresh(): Promise<void> {
    if (this.isDisposed) return;
    const state = this.target.kind === 'png' ? await this.pngState(this.target.uri) : await this.sceneState(this.target.uri);
    if (this.isDisposed) return;
    this.lastState = state;
    this.post({ type: 'state', state });
    if (this.target.kind === 'png') {
      const provenance = await this.provenance('working');
      this.post({ type: 'showProvenance', provenance });
    }
  }

  private async pngState(png: vscode.Uri): Promise<PreviewState> {
    const report = await readImageReport(png.fsPath).catch(() => undefined);
    const prompt = report?.metadata?.prompt ?? '';
    const output = await this.imageView('working', png.fsPath, altText(prompt, basename(png.fsPath)), report?.recipe);
    return { prompt, ...(output ? { output } : {}), outputName: basename(png.fsPath), freshness: 'unknown', variants: [], history: [], locked: true, provenanceOnly: true, persist: this.webviewState };
  }

  private async sceneState(scene: vscode.Uri): Promise<PreviewState> {
    let text = '';
    try {
      text = await this.sceneText(scene);
    } catch (error) {
      this.services.log.warn(`preview: cannot read ${scene.fsPath}: ${String(error)}`);
    }
    const parsed = parseScene(text);
    const prompt = parsed.scene.prompt ?? '';
    const outputFile = this.services.outputPathOf(scene, text) ?? sceneOutputPath(scene.fsPath, { written: parsed.scene.output === undefined ? undefined : resolve(dirname(scene.fsPath), parsed.scene.output) });
    const report = await readImageMetadataFile(outputFile).catch(() => undefined);
    const recipe = report?.recipe as Record<string, unknown> | undefined;
    // Alt text describes what the image shows: the prompt it was rendered from, not the edited scene.
    const shownPrompt = typeof recipe?.prompt === 'string' ? recipe.prompt : prompt;
    const output = await this.imageView('working', outputFile, altText(shownPrompt, basename(outputFile)), recipe);
    const workingInfo = await stat(outputFile).catch(() => undefined);

    // Record the working output in the render history (a CLI render or one made while no panel was open).
    if (output && report?.provenance.recipeHash) {
      await this.services.history.record(scene.toString(), outputFile, { key: report.provenance.recipeHash, ...(typeof recipe?.seed === 'string' ? { seed: recipe.seed } : {}), ...(recipe ? { recipe } : {}) }).catch((error: unknown) => this.services.log.warn(`preview: recording history failed: ${String(error)}`));
    }

    let freshness: OutputFreshness = output ? 'unknown' : 'missing';
    let freshnessReason: string | undefined;
    const reported = output ? this.services.freshnessOf(scene, outputFile, report?.provenance.recipeHash) : undefined;
    if (reported) {
      freshness = reported.state;
      freshnessReason = reported.reason;
    } else if (output && workingInfo) {
      const sceneInfo = await stat(scene.fsPath).catch(() => undefined);
      const dirty = vscode.workspace.textDocuments.some((d) => d.uri.toString() === scene.toString() && d.isDirty);
      if (dirty || (sceneInfo && sceneInfo.mtimeMs > workingInfo.mtimeMs + 1)) {
        freshness = 'stale';
        freshnessReason = dirty ? 'the scene has unsaved changes' : 'the scene was saved after this image was written';
      }
    }

    // Variants: the scene's own seed first, then each variant seed's PNG (the engine's variant path rule).
    const variants: VariantView[] = [];
    const ownSeed = parsed.scene.seed?.toString() ?? (typeof recipe?.seed === 'string' ? recipe.seed : undefined);
    if (parsed.scene.variants?.length) {
      if (ownSeed !== undefined) variants.push({ seed: ownSeed, current: true, ...(output ? { image: output } : {}) });
      for (const seed of parsed.scene.variants) {
        const s = seed.toString();
        if (s === ownSeed) continue;
        const image = await this.imageView(`variant:${s}`, variantOutputPath(outputFile, s), altText(prompt, `seed ${s}`));
        variants.push({ seed: s, current: false, ...(image ? { image } : {}) });
      }
    }

    // History: the working output, earlier renders from the cache, and git versions of the output.
    type Entry = { view: Omit<HistoryEntryView, 'change'>; recipe?: Readonly<Record<string, unknown>> };
    const older: Entry[] = [];
    for (const record of await this.services.history.list(scene.toString())) {
      if (record.key === report?.provenance.recipeHash) continue;
      const image = await this.imageView(`render:${record.key}`, record.file, altText(typeof record.recipe?.prompt === 'string' ? record.recipe.prompt : prompt, 'earlier render'), record.recipe);
      if (image) older.push({ view: { image, kind: 'render', label: 'Render', date: record.date }, ...(record.recipe ? { recipe: record.recipe } : {}) });
    }
    const git = await this.services.git.versions(outputFile);
    let headId: string | undefined;
    for (const [index, version] of git.versions.entries()) {
      const meta = await readImageMetadataFile(version.file).catch(() => undefined);
      const gitRecipe = meta?.recipe as Record<string, unknown> | undefined;
      const id = `git:${version.commit}`;
      const image = await this.imageView(id, version.file, altText(meta?.metadata?.prompt ?? prompt, `committed ${version.commit.slice(0, 7)}`), gitRecipe);
      if (!image) continue;
      if (index === 0) headId = id;
      older.push({ view: { image, kind: 'git', label: index === 0 ? `HEAD ${version.commit.slice(0, 7)}` : version.commit.slice(0, 7), date: version.date, detail: version.message }, ...(gitRecipe ? { recipe: gitRecipe } : {}) });
    }
    older.sort((a, b) => b.view.date - a.view.date);
    const history: HistoryEntryView[] = [];
    if (output) history.push({ image: output, kind: 'working', label: 'Working copy', date: workingInfo?.mtimeMs ?? Date.now(), change: changeSummary(older[0]?.recipe, recipe) });
    older.forEach((entry, i) => history.push({ ...entry.view, change: changeSummary(older[i + 1]?.recipe, entry.recipe) }));

    const previous = older.find((e) => e.view.kind === 'render');
    const baseline = headId ?? previous?.view.image.id;
    return {
      sceneName: basename(scene.fsPath),
      sceneUri: scene.toString(),
      prompt,
      ...(output ? { output } : {}),
      outputName: basename(outputFile),
      freshness,
      ...(freshnessReason ? { freshnessReason } : {}),
      variants,
      history,
      ...(output && baseline ? { defaultDiff: { before: baseline, after: 'working' } } : {}),
      locked: this.locked,
      ...(git.note ? { gitNote: git.note } : {}),
      provenanceOnly: false,
      persist: this.webviewState,
    };
  }

  private known(id: string): KnownImage {
    const image = this.images.get(id);
    if (!image) throw new Error(`the preview has no image '${id}' (it may have been replaced by a newer render); known: ${[...this.images.keys()].join(', ') || 'none'}`);
    return image;
  }

  private async provenance(id: string): Promise<PreviewRequests['provenance']['result']> {
    const image = this.known(id);
    // A JPEG or WebP has no recipe to read, but the panel still opens and reads its watermark below.
    const report = await readImageReport(image.file);
    const freshness = id === 'working' ? (this.lastState?.freshness ?? 'unknown') : 'unknown';
    const base = this.target.kind === 'scene' ? vscode.workspace.getWorkspaceFolder(this.target.uri)?.uri.fsPath ?? dirname(this.target.uri.fsPath) : dirname(image.file);
    const hints: { path: string; id: string }[] = [];
    const view = provenanceView(report, freshness, (path) => {
      const hintId = `hint:${hints.length}`;
      hints.push({ path: isAbsolute(path) ? path : resolve(base, path), id: hintId });
      return undefined;
    });
    // Hint thumbnails need a stat and a webview URI each: resolve them after the rows are built.
    const resolved = await Promise.all(hints.map((h, i) => this.imageView(h.id, h.path, `hint image ${view.hints[i]?.label ?? ''}`)));
    const withImages = view.hints.map((h, i) => (resolved[i] ? { ...h, image: resolved[i] } : h));
    // A preprocessed hint is listed only when the render saved one (imgprompt.saveHints).
    const c2pa = await this.services.readC2pa?.(image.file);
    // The watermark is read from the pixels, so it shows even for an image whose metadata was stripped.
    const mark = this.services.detectWatermark ? watermarkRow(await watermarkInFile(image.file, this.services.detectWatermark), report.provenance) : undefined;
    const rows = mark ? [...view.rows, { label: 'Watermark in the pixels', value: mark }] : view.rows;
    return { ...view, rows, file: basename(report.file), hints: withImages.filter((h) => h.image || !h.label.includes(PREPROCESSED_HINT_LABEL)), ...(c2pa ? { c2pa } : {}) };
  }

  private async onMessage(message: WebviewToHost): Promise<void> {
    if (message.type === 'ready') {
      this.ready = true;
      for (const queued of this.queuedUntilReady.splice(0)) void this.panel.webview.postMessage(queued);
      this.scheduleRefresh(0);
      return;
    }
    if (message.type !== 'request') return;
    try {
      const result = await this.answer(message.method, message.params as never);
      this.post({ type: 'reply', id: message.id, ok: true, result });
    } catch (error) {
      this.services.log.warn(`preview request '${message.method}' failed: ${error instanceof Error ? error.message : String(error)}`);
      this.post({ type: 'reply', id: message.id, ok: false, error: error instanceof Error ? error.message : String(error) });
    }
  }

  /** Answers one typed request from the webview. Public so tests can drive the panel without a page. */
  async answer<K extends PreviewMethod>(method: K, params: PreviewRequests[K]['params']): Promise<PreviewRequests[K]['result']> {
    const handlers: { [M in PreviewMethod]: (p: PreviewRequests[M]['params']) => Promise<PreviewRequests[M]['result']> } = {
      diff: async ({ before, after }) => diffRenders({ id: before, ...this.known(before) }, { id: after, ...this.known(after) }),
      provenance: async ({ image }) => this.provenance(image),
      cancelRender: async () => {
        if (this.target.kind !== 'scene' || !this.services.cancelRender) return { cancelled: false };
        this.services.cancelRender(this.target.uri);
        return { cancelled: true };
      },
      useSeed: async ({ seed }) => this.useSeed(seed),
      importScene: async ({ image }) => {
        await vscode.commands.executeCommand('imgprompt.importScene', vscode.Uri.file(this.known(image).file));
        return { opened: true };
      },
      setLocked: async ({ locked }) => {
        this.setLocked(locked);
        return { locked: this.locked };
      },
      openScene: async () => {
        if (this.target.kind !== 'scene') return { opened: false };
        await vscode.window.showTextDocument(this.target.uri, { viewColumn: vscode.ViewColumn.One, preview: false });
        return { opened: true };
      },
    };
    return handlers[method](params);
  }

  private async useSeed(seed: string): Promise<{ written: boolean }> {
    if (this.target.kind !== 'scene') return { written: false };
    const document = await vscode.workspace.openTextDocument(this.target.uri);
    const edits = seedEdits(document.getText(), seed);
    if (edits.length === 0) return { written: false };
    const edit = new vscode.WorkspaceEdit();
    for (const e of edits) edit.replace(document.uri, new vscode.Range(document.positionAt(e.start), document.positionAt(e.end)), e.newText);
    const applied = await vscode.workspace.applyEdit(edit);
    this.scheduleRefresh();
    return { written: applied };
  }
}


function altText(prompt: string, what: string): string {
  return prompt ? `${what}: ${prompt}` : what;
}
