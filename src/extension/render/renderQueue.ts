// The Renderer behind every render in the editor: one engine worker thread (started on the first render,
// never at activation), one render at a time because the work is CPU-bound, a newer request for a scene
// replacing (and cancelling) an older one, progress in the status bar and — for long renders — a
// cancellable notification, and a log line per render with its recipe hash and stage times. It also
// fires RenderEvents for the preview (live step previews, finished outputs).
import { readFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import { CancelledError, RenderWorkerClient, type C2paReport, type WatermarkFinding, type ExecutionProviderSetting, type FreshnessState, type RenderWorkerClientOptions, type WorkerProgress, type WorkerRenderRequest, type WorkerRenderResult } from '../../engine/editor';
import type { Config } from '../config/config';
import { LANGUAGE_ID, type SceneAnalyzer } from '../scene/sceneAnalyzer';
import { COMMANDS } from '../commands/commandIds';
import { isWorkspaceTrusted, restrictedModeError } from './trustedRenderer';
import { describeError } from '../util/describeError';
import { Disposable } from '../util/disposable';
import type { OutputStatus } from './outputStatus';
import type { RenderedOutput, RenderEvents, RenderFailure, RenderStepPreview } from './renderEvents';
import type { Renderer, RenderStateChange, RenderTrigger, SceneRenderState } from './renderer';

/** A save within this many milliseconds of the previous one renders once. */
const SAVE_DEBOUNCE_MS = 150;
/** Renders still running after this long get a cancellable notification as well as the status bar. */
const NOTIFICATION_AFTER_MS = 2000;

interface Request {
  readonly scene: vscode.Uri;
  readonly trigger: RenderTrigger;
  readonly force: boolean;
  readonly done: { resolve(): void; reject(error: unknown): void };
  readonly promise: Promise<void>;
}

export interface RenderQueueOptions {
  readonly config: Config;
  readonly analyzer: SceneAnalyzer;
  readonly outputStatus: OutputStatus;
  readonly log: vscode.LogOutputChannel;
  /** out/worker.js of this extension. */
  readonly workerScript: string;
  /** Folder for the engine's persistent file-hash cache. */
  readonly cacheDir: string;
  /** Builds the worker client; tests substitute their own. Loaded lazily so activation stays light. */
  readonly createClient?: (options: WorkerClientSettings) => Promise<RenderWorkerClient>;
  /**
   * Workspace Trust, asked each time a worker client would be created (default: VS Code's, which turns
   * true when the user trusts the folder, without a reload). While false no client is created.
   */
  readonly isTrusted?: () => boolean;
  /** Downloads the scene's hub references (hf:, Civitai) before it renders; after the trust check. */
  readonly pullModels?: (scene: vscode.Uri, text: string, projectRoot: string, signal?: AbortSignal) => Promise<void>;
  /** The C2PA private key (PEM) from the editor's secret storage, when the user stored one. */
  readonly signingKey?: () => string | undefined;
  /** Verify's document check (disclosure, published team figures): the problems as summary lines. */
  readonly checkFigures?: (scenes: readonly vscode.Uri[]) => Promise<string[]>;
}

/** What the render worker is started with; a change of the settings behind it restarts the worker. */
export interface WorkerClientSettings {
  readonly workerScript: string;
  readonly threads?: number;
  readonly cacheDir: string;
  readonly memoryLimitBytes?: number;
  /** C2PA signing, prompt writer and prompt log (imgprompt.c2pa, .c2paCertificate, .promptWriter, .promptLog). */
  readonly provenance?: RenderWorkerClientOptions['provenance'];
  readonly executionProvider?: ExecutionProviderSetting;
}

function request(scene: vscode.Uri, trigger: RenderTrigger, force: boolean): Request {
  let done!: Request['done'];
  const promise = new Promise<void>((resolve, reject) => (done = { resolve, reject }));
  return { scene, trigger, force, done, promise };
}

function phaseLabel(phase: WorkerProgress['progress']['phase']): string {
  return { convert: 'converting checkpoint', load: 'loading model', encode: 'encoding prompt', denoise: 'denoising', decode: 'decoding', write: 'writing PNG' }[phase];
}

export class RenderQueue extends Disposable implements Renderer, RenderEvents {
  private readonly stateChanges = this.register(new vscode.EventEmitter<RenderStateChange>());
  readonly onDidChangeState = this.stateChanges.event;
  private readonly starts = this.register(new vscode.EventEmitter<{ scene: vscode.Uri; totalSteps: number; jobs: number }>());
  readonly onDidStart = this.starts.event;
  private readonly steps = this.register(new vscode.EventEmitter<RenderStepPreview>());
  readonly onDidStep = this.steps.event;
  private readonly renders = this.register(new vscode.EventEmitter<RenderedOutput>());
  readonly onDidRender = this.renders.event;
  private readonly finishes = this.register(new vscode.EventEmitter<{ scene: vscode.Uri; outputs: readonly RenderedOutput[] }>());
  readonly onDidFinish = this.finishes.event;
  private readonly failures = this.register(new vscode.EventEmitter<RenderFailure>());
  readonly onDidFail = this.failures.event;

  private readonly states = new Map<string, SceneRenderState>();
  private readonly queue: Request[] = [];
  private current: { request: Request; controller: AbortController } | undefined;
  private client: Promise<RenderWorkerClient> | undefined;
  private clientsCreated = 0;
  /** The settings the running worker was started with (threads, memory limit). */
  private clientSettings: string | undefined;
  private readonly statusBar = this.register(vscode.window.createStatusBarItem('imgprompt.render', vscode.StatusBarAlignment.Left, 10));
  private readonly saveTimers = new Map<string, NodeJS.Timeout>();
  /** Hides the status bar item a few seconds after a render's outcome was shown. */
  private flashing: NodeJS.Timeout | undefined;
  private previewOpener: ((scene: vscode.Uri, viewColumn?: vscode.ViewColumn) => Promise<void>) | undefined;

  constructor(private readonly options: RenderQueueOptions) {
    super();
    this.statusBar.name = 'imgprompt render';
    this.statusBar.command = COMMANDS.cancelRender;
    this.register(vscode.workspace.onDidSaveTextDocument((document) => this.onSave(document)));
    this.register({
      dispose: () => {
        this.saveTimers.forEach((t) => clearTimeout(t));
        clearTimeout(this.flashing);
      },
    });
    this.register(options.config.onDidChange(() => void this.restartWorkerIfSettingsChanged()));
  }

  /** How many render worker clients (each with its own worker process) this queue has created. */
  get workerStarts(): number {
    return this.clientsCreated;
  }

  /** The preview panel registers itself here (it is built after the queue). */
  setPreviewOpener(open: (scene: vscode.Uri, viewColumn?: vscode.ViewColumn) => Promise<void>): void {
    this.previewOpener = open;
  }

  stateOf(scene: vscode.Uri): SceneRenderState {
    return this.states.get(scene.toString()) ?? { kind: 'idle' };
  }

  render(scene: vscode.Uri, trigger: RenderTrigger): Promise<void> {
    return this.enqueue(scene, trigger, trigger === 'command');
  }

  async renderAll(scenes: readonly vscode.Uri[], token: vscode.CancellationToken): Promise<void> {
    await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'imgprompt: rendering the workspace', cancellable: true },
      async (progress, notificationToken) => {
        let failed = 0;
        for (const [index, scene] of scenes.entries()) {
          if (token.isCancellationRequested || notificationToken.isCancellationRequested) break;
          progress.report({ message: `${index + 1}/${scenes.length} ${vscode.workspace.asRelativePath(scene)}`, increment: 100 / scenes.length });
          const cancel = () => this.cancel(scene);
          const subscriptions = [token.onCancellationRequested(cancel), notificationToken.onCancellationRequested(cancel)];
          try {
            await this.enqueue(scene, 'workspace', false);
          } catch (error) {
            if (!(error instanceof CancelledError)) failed++;
          } finally {
            subscriptions.forEach((s) => s.dispose());
          }
        }
        if (failed > 0) void vscode.window.showWarningMessage(`imgprompt: ${failed} of ${scenes.length} scenes failed to render; see the Problems panel and the imgprompt log.`);
      },
    );
  }

  async verify(scenes: readonly vscode.Uri[], token: vscode.CancellationToken): Promise<void> {
    const problems: string[] = [];
    let upToDate = 0;
    for (const scene of scenes) {
      if (token.isCancellationRequested) return;
      try {
        const result = await this.runWorker(scene, { checkOnly: true }, undefined);
        for (const job of result.jobs) {
          this.reportOutputState(scene, job.output, job.state === 'rendered' ? 'up-to-date' : job.state, job.reason);
          if (job.metadata.purpose === null && this.options.config.get(scene).requirePurpose) problems.push(`${vscode.workspace.asRelativePath(scene)}: the scene has no purpose: line (imgprompt.requirePurpose)`);
          if (job.state === 'up-to-date' || job.state === 'rendered') upToDate++;
          else {
            const why = job.state === 'stale' && job.changes?.length ? ` (${job.changes.join(', ')} changed)` : '';
            problems.push(`${vscode.workspace.asRelativePath(job.output)}: ${job.state}${why}`);
          }
        }
      } catch (error) {
        problems.push(`${vscode.workspace.asRelativePath(scene)}: ${describeError(error, 'verify').message}`);
      }
    }
    if (!token.isCancellationRequested) problems.push(...((await this.options.checkFigures?.(scenes)) ?? []));
    const summary = `imgprompt: ${upToDate} figure${upToDate === 1 ? '' : 's'} up to date, ${problems.length} with problems`;
    this.options.log.info([summary, ...problems.map((p) => `  ${p}`)].join('\n'));
    if (problems.length === 0) void vscode.window.showInformationMessage(summary);
    else {
      const choice = await vscode.window.showWarningMessage(`${summary}: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? '; …' : ''}`, 'Render All', 'Show Log');
      if (choice === 'Render All') await this.renderAll(scenes, token);
      if (choice === 'Show Log') this.options.log.show(true);
    }
  }

  async openPreview(scene: vscode.Uri, viewColumn?: vscode.ViewColumn): Promise<void> {
    if (!this.previewOpener) throw new Error('the preview is not available');
    await this.previewOpener(scene, viewColumn);
  }

  cancel(scene?: vscode.Uri): void {
    const matches = (r: Request) => !scene || r.scene.toString() === scene.toString();
    for (const r of this.queue.filter(matches)) {
      this.queue.splice(this.queue.indexOf(r), 1);
      this.setState(r.scene, { kind: 'idle' });
      r.done.reject(new CancelledError());
    }
    if (this.current && matches(this.current.request)) this.current.controller.abort();
  }

  override dispose(): void {
    this.cancel();
    const client = this.client;
    this.client = undefined;
    void client?.then((c) => c.dispose());
    super.dispose();
  }

  private onSave(document: vscode.TextDocument): void {
    if (document.languageId !== LANGUAGE_ID || document.uri.scheme !== 'file') return;
    if (!this.options.config.get(document.uri).renderOnSave) return;
    // A save in Restricted Mode is not a request to render: nothing is queued, so nothing flashes
    // "render failed". (Were it queued, workerClient() would still refuse it.)
    if (!this.isTrusted()) return;
    const key = document.uri.toString();
    clearTimeout(this.saveTimers.get(key));
    this.saveTimers.set(
      key,
      setTimeout(() => {
        this.saveTimers.delete(key);
        // Errors of save-triggered renders are shown in the status bar and log, never as pop-ups.
        this.enqueue(document.uri, 'save', false).catch(() => undefined);
      }, SAVE_DEBOUNCE_MS),
    );
  }

  private enqueue(scene: vscode.Uri, trigger: RenderTrigger, force: boolean): Promise<void> {
    const key = scene.toString();
    const next = request(scene, trigger, force);
    // A newer request for the same scene replaces a queued one and cancels a running one.
    const queued = this.queue.findIndex((r) => r.scene.toString() === key);
    if (queued >= 0) {
      const [old] = this.queue.splice(queued, 1, next);
      old.promise.catch(() => undefined);
      old.done.reject(new CancelledError('replaced by a newer render of the same scene'));
    } else this.queue.push(next);
    if (this.current && this.current.request.scene.toString() === key) this.current.controller.abort();
    this.setState(scene, { kind: 'queued' });
    void this.pump();
    return next.promise;
  }

  private async pump(): Promise<void> {
    if (this.current || this.isDisposed) return;
    const next = this.queue.shift();
    if (!next) return;
    const controller = new AbortController();
    this.current = { request: next, controller };
    try {
      await this.renderNow(next, controller);
      next.done.resolve();
    } catch (error) {
      next.done.reject(error);
    } finally {
      this.current = undefined;
      if (!this.queue.some((r) => r.scene.toString() === next.scene.toString())) this.setState(next.scene, { kind: 'idle' });
      this.updateStatusBar();
      void this.pump();
    }
  }

  private async renderNow(r: Request, controller: AbortController): Promise<void> {
    const started = performance.now();
    const name = vscode.workspace.asRelativePath(r.scene);
    this.setState(r.scene, { kind: 'rendering', stage: 'starting' });
    let notification: vscode.Disposable | undefined;
    const timer = setTimeout(() => (notification = this.showNotification(r.scene, name, controller)), NOTIFICATION_AFTER_MS);
    const outputs: RenderedOutput[] = [];
    let announced = false;
    try {
      const result = await this.runWorker(r.scene, { force: r.force, previews: true, saveHints: this.options.config.get().saveHints }, controller.signal, (p) => {
        if (!announced) {
          announced = true;
          this.starts.fire({ scene: r.scene, totalSteps: p.progress.total, jobs: p.jobs });
        }
        this.setState(r.scene, { kind: 'rendering', step: p.progress.step, totalSteps: p.progress.total, stage: phaseLabel(p.progress.phase) });
        const preview = p.progress.preview;
        if (preview) {
          this.steps.fire({ scene: r.scene, job: p.job, jobs: p.jobs, step: p.progress.step, totalSteps: p.progress.total, rgb: preview.data, width: preview.width, height: preview.height });
        }
      });
      for (const d of result.diagnostics) this.options.log.warn(`${name}: ${d.message}`);
      for (const job of result.jobs) {
        const state = job.state === 'rendered' ? 'rendered' : 'up-to-date';
        this.reportOutputState(r.scene, job.output, 'up-to-date');
        const output: RenderedOutput = {
          scene: r.scene,
          output: vscode.Uri.file(job.output),
          recipe: job.metadata as unknown as Record<string, unknown>,
          hash: job.hash,
          state,
          seed: job.metadata.seed,
          totalMs: job.timings?.totalMs,
        };
        outputs.push(output);
        this.renders.fire(output);
        for (const w of job.warnings) this.options.log.warn(`${name}: ${w}`);
        for (const l of job.loras ?? []) this.options.log.info(`${name}: LoRA ${l.file} × ${l.weight}: ${l.matched} of ${l.total} modules applied`);
        if (job.timings) {
          const stages = Object.entries(job.timings.stages)
            .map(([stage, ms]) => `${stage} ${ms.toFixed(0)} ms`)
            .join(', ');
          this.options.log.info(`${name} → ${vscode.workspace.asRelativePath(job.output)}: rendered in ${job.timings.totalMs.toFixed(0)} ms (recipe ${job.hash.slice(0, 12)}; ${stages}; onnxruntime ${job.timings.onnxRuntimeMs.toFixed(0)} ms)`);
        } else this.options.log.info(`${name} → ${vscode.workspace.asRelativePath(job.output)}: up to date (recipe ${job.hash.slice(0, 12)})`);
      }
      this.finishes.fire({ scene: r.scene, outputs });
      this.flashStatus(`$(check) ${name} in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    } catch (error) {
      const cancelled = error instanceof CancelledError;
      const shown = describeError(error, `Rendering ${name}`);
      this.failures.fire({ scene: r.scene, message: shown.message, cancelled });
      if (cancelled) this.options.log.info(`${name}: render cancelled`);
      else {
        this.options.log.error(shown.message);
        this.flashStatus(`$(error) ${name}: render failed`, shown.message);
      }
      throw error;
    } finally {
      clearTimeout(timer);
      notification?.dispose();
    }
  }

  /** Resolves the scene's context and text, then runs one worker request. */
  private async runWorker(
    scene: vscode.Uri,
    extra: Partial<WorkerRenderRequest>,
    signal: AbortSignal | undefined,
    onProgress?: (p: WorkerProgress) => void,
  ): Promise<WorkerRenderResult> {
    // First, before reading anything: in Restricted Mode this refuses.
    const client = await this.workerClient();
    const context = this.options.analyzer.contextFor(scene);
    if (!context) throw new Error(`${scene.toString()} is not a file on disk; save it first`);
    const open = vscode.workspace.textDocuments.find((d) => d.uri.toString() === scene.toString());
    const text = open ? open.getText() : await readFile(scene.fsPath, 'utf8');
    await this.options.pullModels?.(scene, text, context.projectRoot, signal);
    return client.render(
      {
        scene: { file: context.file, projectRoot: context.projectRoot, modelSearchPaths: context.modelSearchPaths ?? [], builtinModelsDir: context.builtinModelsDir, hubCacheDir: context.hub?.cacheDir, civitaiDir: context.hub?.civitaiDir },
        text,
        outputPattern: context.outputPattern,
        defaultAudience: context.defaultAudience,
        defaultLabel: context.defaultLabel,
        workspaceFolder: context.workspaceFolder,
        ...extra,
      },
      { signal, onProgress },
    );
  }

  private isTrusted(): boolean {
    return (this.options.isTrusted ?? isWorkspaceTrusted)();
  }

  /**
   * The only way to the render worker, and so the Restricted Mode boundary: every render (command,
   * save, Render All) and every Verify freshness check (which hashes model files in the worker) gets its
   * client here, and while the workspace is untrusted this refuses before a client exists, so no worker
   * process starts and no model is loaded or read. Trust is asked on every call: once the user trusts
   * the folder the next request starts the worker, without a reload.
   */
  private workerClient(): Promise<RenderWorkerClient> {
    if (!this.isTrusted()) return Promise.reject(restrictedModeError());
    if (!this.client) {
      const settings = this.workerSettings();
      this.clientSettings = JSON.stringify(settings);
      const create =
        this.options.createClient ??
        (async (o: WorkerClientSettings) => new RenderWorkerClient(o));
      this.clientsCreated++;
      this.client = create(settings);
      this.client.catch(() => (this.client = undefined));
    }
    return this.client;
  }

  private workerSettings(): WorkerClientSettings {
    const { threads, memoryLimitGB, c2pa, c2paCertificate, promptWriter, promptLog, executionProvider } = this.options.config.get();
    const key = this.options.signingKey?.();
    return {
      workerScript: this.options.workerScript,
      threads: threads || undefined,
      cacheDir: this.options.cacheDir,
      memoryLimitBytes: memoryLimitGB > 0 ? Math.floor(memoryLimitGB * 1024 ** 3) : undefined,
      // The user's certificate signs only with its key from secret storage; otherwise the local identity.
      provenance: { c2pa, identity: c2paCertificate && key ? { certificateFile: c2paCertificate, privateKeyPem: key } : {}, promptWriter: promptWriter || undefined, promptLog },
      executionProvider: executionProvider === 'cpu' ? undefined : executionProvider,
    };
  }

  /** Reads an image's C2PA manifest in the render worker (started if needed; refused in Restricted Mode). */
  async readC2pa(file: string): Promise<C2paReport> {
    const client = await this.workerClient();
    return client.readC2pa(file);
  }

  /** Searches an image's pixels for the invisible watermark in the render worker (refused in Restricted Mode). */
  async detectWatermark(file: string): Promise<WatermarkFinding> {
    const client = await this.workerClient();
    return client.detectWatermark(file);
  }

  /** Called when something behind the worker's settings changed outside VS Code's configuration (the stored signing key). */
  workerSettingsChanged(): void {
    void this.restartWorkerIfSettingsChanged();
  }

  private async restartWorkerIfSettingsChanged(): Promise<void> {
    if (!this.client || JSON.stringify(this.workerSettings()) === this.clientSettings || this.current) return;
    const old = this.client;
    this.client = undefined;
    await (await old).dispose();
  }

  private reportOutputState(scene: vscode.Uri, output: string, state: FreshnessState, reason?: string): void {
    this.options.outputStatus.report(scene, { output, freshness: state === 'stale' ? { state, reason } : { state } });
  }

  private showNotification(scene: vscode.Uri, name: string, controller: AbortController): vscode.Disposable {
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    void vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `imgprompt: rendering ${name}`, cancellable: true }, (progress, token) => {
      token.onCancellationRequested(() => controller.abort());
      let last = 0;
      const subscription = this.onDidChangeState((change) => {
        if (change.scene.toString() !== scene.toString() || change.state.kind !== 'rendering') return;
        const { step = 0, totalSteps = 0, stage = '' } = change.state;
        const percent = totalSteps > 0 ? (step / totalSteps) * 100 : 0;
        progress.report({ message: `${stage} ${step}/${totalSteps}`, increment: Math.max(0, percent - last) });
        last = Math.max(last, percent);
      });
      return finished.finally(() => subscription.dispose());
    });
    return { dispose: finish };
  }

  private setState(scene: vscode.Uri, state: SceneRenderState): void {
    this.states.set(scene.toString(), state);
    if (state.kind === 'idle') this.states.delete(scene.toString());
    this.stateChanges.fire({ scene, state });
    this.updateStatusBar();
  }

  private updateStatusBar(): void {
    const current = this.current?.request.scene;
    if (!current) {
      if (!this.flashing) this.statusBar.hide();
      return;
    }
    const state = this.stateOf(current);
    const progress = state.kind === 'rendering' && state.totalSteps ? ` ${state.step ?? 0}/${state.totalSteps}` : '';
    const waiting = this.queue.length > 0 ? ` (+${this.queue.length} queued)` : '';
    this.statusBar.text = `$(loading~spin) ${vscode.workspace.asRelativePath(current)}${progress}${waiting}`;
    this.statusBar.tooltip = `imgprompt is rendering ${vscode.workspace.asRelativePath(current)}${state.kind === 'rendering' && state.stage ? ` (${state.stage})` : ''}. Click to cancel.${
      this.queue.length > 0 ? `\nQueued: ${this.queue.map((r) => vscode.workspace.asRelativePath(r.scene)).join(', ')}` : ''
    }`;
    this.statusBar.command = COMMANDS.cancelRender;
    this.statusBar.show();
  }

  /** Shows a finished render's outcome for a few seconds. */
  private flashStatus(text: string, tooltip?: string): void {
    if (this.current || this.queue.length > 0) return;
    clearTimeout(this.flashing);
    this.statusBar.text = text;
    this.statusBar.tooltip = tooltip ?? text.replace(/^\$\([^)]*\) /, '');
    this.statusBar.command = { title: 'Show log', command: COMMANDS.showLog };
    this.statusBar.show();
    this.flashing = setTimeout(() => {
      this.flashing = undefined;
      if (!this.current) this.statusBar.hide();
    }, 5000);
  }
}

