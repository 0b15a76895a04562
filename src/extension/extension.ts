// Composition root of the VS Code extension: builds the services in dependency order and registers each
// for disposal. Nothing heavy loads here (no onnxruntime, no sharp): activation only wires providers;
// the engine's parser runs when a scene is first checked.
import * as vscode from 'vscode';
import { SceneCodeLensProvider } from './codelens/sceneCodeLensProvider';
import { COMMANDS } from './commands/commandIds';
import { CommandRunner } from './commands/commandRunner';
import { registerImportScene } from './commands/importScene';
import { registerInsertFigure } from './commands/insertFigure';
import { registerNewScene } from './commands/newScene';
import { registerRenderCommands } from './commands/renderCommands';
import { SceneCompletionProvider } from './completion/sceneCompletionProvider';
import { Config } from './config/config';
import { SceneDiagnostics } from './diagnostics/sceneDiagnostics';
import { SuggestionQuickFix } from './diagnostics/suggestionQuickFix';
import { SceneHoverProvider } from './hover/sceneHoverProvider';
import { MarkdownImageFeatures } from './markdown/markdownImageFeatures';
import { FigureCompletionProvider } from './markdown/figureCompletionProvider';
import { FigureReferenceDiagnostics } from './markdown/figureReferenceDiagnostics';
import { ProvenanceDocuments } from './provenance/provenanceDocuments';
import { c2paUnavailable, c2paView } from './provenance/c2paView';
import { registerProvenanceCommands, SigningKeyStore } from './provenance/provenanceCommands';
import { PreviewManager } from './preview/previewManager';
import { OutputStatus } from './render/outputStatus';
import { RenderingContextKey } from './render/renderingContextKey';
import type { Renderer } from './render/renderer';
import type { RenderEvents } from './render/renderEvents';
import { TrustedRenderer } from './render/trustedRenderer';
import { RenderQueue } from './render/renderQueue';
import { SceneAnalyzer } from './scene/sceneAnalyzer';
import { ModelDownloads } from './hub/modelDownloads';

/** What activate returns: the services other extensions' tests (and ours) may reach through `exports`. */
export interface ImgpromptApi {
  readonly outputStatus: OutputStatus;
  readonly analyzer: SceneAnalyzer;
  readonly renderer: Renderer;
  /** Live render events (steps, outputs, failures), as the preview sees them. */
  readonly renderEvents: RenderEvents;
  /** Verify's Markdown figure check (disclosure, published team figures), for tests. */
  readonly figures: FigureReferenceDiagnostics;
  /** Milliseconds activate took. */
  readonly activationMs: number;
  /** How many render worker clients (each with its own worker process) have been created: 0 in Restricted Mode. */
  readonly renderWorkerStarts: number;
}

export function activate(context: vscode.ExtensionContext): ImgpromptApi {
  const started = performance.now();
  const log = vscode.window.createOutputChannel('imgprompt', { log: true });
  context.subscriptions.push(log);
  try {
    const track = <T extends vscode.Disposable>(service: T): T => {
      context.subscriptions.push(service);
      return service;
    };
    const builtinModelsDir = vscode.Uri.joinPath(context.extensionUri, 'models').fsPath;

    const config = track(new Config(log));
    const runner = new CommandRunner(log);
    // The engine worker's cache: converted single-file checkpoints are found there by the editor's checks too.
    const engineCacheDir = vscode.Uri.joinPath(context.globalStorageUri, 'cache').fsPath;
    const analyzer = track(new SceneAnalyzer(config, builtinModelsDir, engineCacheDir));
    const outputStatus = track(new OutputStatus());
    // hf: / Civitai models a scene names are downloaded before it renders (trusted workspaces only).
    const downloads = track(new ModelDownloads(context.secrets, engineCacheDir, log, () => analyzer.invalidate()));
    // Rendering: a queue in front of one engine worker process (started on the first render, never
    // here). In Restricted Mode the queue creates no worker at all, whatever asks (render on save
    // included); TrustedRenderer refuses commands with a message saying why.
    const signingKeys = track(new SigningKeyStore(context.secrets, log));
    // Markdown figure problems while editing; Verify runs the same check over every document.
    const figures = track(FigureReferenceDiagnostics.register(config));
    const queue = track(
      new RenderQueue({
        signingKey: () => signingKeys.get(),
        config,
        analyzer,
        outputStatus,
        log,
        workerScript: vscode.Uri.joinPath(context.extensionUri, 'out', 'worker.js').fsPath,
        cacheDir: engineCacheDir,
        pullModels: (scene, text, projectRoot, signal) => downloads.pull(scene, text, projectRoot, signal),
        checkFigures: (scenes) => figures.verify(scenes),
      }),
    );
    const preview = PreviewManager.register(context, queue, log, {
      cancelRender: (scene) => queue.cancel(scene),
      outputPathOf: (scene) => {
        const document = vscode.workspace.textDocuments.find((d) => d.uri.toString() === scene.toString());
        return document ? analyzer.outputPath(document) : undefined;
      },
      outputState: (scene, output) => outputStatus.reported(scene, output),
      followsEditor: () => vscode.workspace.getConfiguration('imgprompt').get<boolean>('previewFollowsEditor', true),
      // Content Credentials are read where the native C2PA library lives: the render worker.
      readC2pa: (file) => queue.readC2pa(file).then(c2paView, (error: unknown) => c2paUnavailable(error instanceof Error ? error.message : String(error))),
      // So is the watermark search: decoding and searching a large image must not stall the editor.
      detectWatermark: (file) => queue.detectWatermark(file),
    });
    track(signingKeys.onDidChange(() => queue.workerSettingsChanged()));
    queue.setPreviewOpener(async (scene, viewColumn) => {
      await preview.openPreview(scene, viewColumn);
    });
    const renderer = track(new TrustedRenderer(queue));

    track(SceneDiagnostics.register(analyzer, outputStatus, log));
    track(SuggestionQuickFix.register());
    track(SceneCompletionProvider.register(analyzer, config, builtinModelsDir));
    track(SceneHoverProvider.register(analyzer));
    track(SceneCodeLensProvider.register(renderer));
    track(RenderingContextKey.register(renderer));
    track(MarkdownImageFeatures.register());
    track(FigureCompletionProvider.register(config));
    track(ProvenanceDocuments.register(runner, (png) => preview.showProvenance(png)));
    track(runner.register(COMMANDS.showLog, 'Show Log', () => log.show(true)));
    track(downloads.registerCommands(runner));
    track(registerProvenanceCommands(runner, signingKeys));
    track(registerRenderCommands(runner, renderer));
    track(registerNewScene(runner));
    track(registerImportScene(runner));
    track(registerInsertFigure(runner, config));

    // Trusting the folder takes effect at once: renders reach the worker from the next request on (the
    // queue asks for trust each time), and diagnostics drop "rendering needs a trusted workspace".
    track(
      vscode.workspace.onDidGrantWorkspaceTrust(() => {
        log.info('workspace trusted: rendering enabled');
        analyzer.invalidate();
      }),
    );

    const activationMs = performance.now() - started;
    log.info(`imgprompt activated in ${activationMs.toFixed(1)} ms (workspace ${vscode.workspace.isTrusted ? 'trusted' : 'in Restricted Mode: no rendering'})`);
    return {
      outputStatus,
      analyzer,
      renderer,
      renderEvents: queue,
      figures,
      activationMs,
      get renderWorkerStarts() {
        return queue.workerStarts;
      },
    };
  } catch (error) {
    log.error(`activation failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    void vscode.window.showErrorMessage(`imgprompt failed to start: ${error instanceof Error ? error.message : String(error)}`);
    throw error;
  }
}

export function deactivate(): void {}
