// One analysis per document version, shared by diagnostics, completion, hover and CodeLens: the engine's
// parse → check files → resolve against the model, with the project root, model folders and built-in
// models of the scene's workspace. Documents that are not files (untitled, virtual) are parsed only:
// their paths have nothing to resolve against.
import { dirname, join } from 'node:path';
import * as vscode from 'vscode';
import { parseScene, type ParsedScene, analyzeScene, sceneOutputPath, hubCacheDir, projectHubLookup, type ResolveContext, type SceneAnalysis, type SceneDiagnostic } from '../../engine/editor';
import type { Config } from '../config/config';
import { Disposable } from '../util/disposable';

export const LANGUAGE_ID = 'imgprompt';

export interface DocumentAnalysis {
  parsed: ParsedScene;
  /** Every problem, located. */
  diagnostics: SceneDiagnostic[];
  /** Present for file documents: the engine's full analysis and the context it used. */
  analysis?: SceneAnalysis;
  context?: ResolveContext;
}

export class SceneAnalyzer extends Disposable {
  private readonly cache = new Map<string, { version: number; epoch: number; result: DocumentAnalysis }>();
  /** Bumped when something outside the documents changes (settings, files on disk): cached results are stale. */
  private epoch = 0;
  private readonly invalidations = this.register(new vscode.EventEmitter<void>());
  /** Fires when every analysis is stale (settings or referenced files changed); re-analyse open scenes. */
  readonly onDidInvalidate = this.invalidations.event;

  constructor(
    private readonly config: Config,
    private readonly builtinModelsDir: string,
    /** The render worker's cache folder (converted checkpoints). */
    private readonly engineCacheDir?: string,
  ) {
    super();
    this.register(config.onDidChange(() => this.invalidate()));
    // Creating or deleting a LoRA, hint image, model folder or output changes what scenes resolve to.
    // Content changes are left out: they do not change any check made here and fire on every render.
    const watcher = this.register(vscode.workspace.createFileSystemWatcher('**/*', false, true, false));
    this.register(watcher.onDidCreate(() => this.invalidate()));
    this.register(watcher.onDidDelete(() => this.invalidate()));
    this.register(vscode.workspace.onDidCloseTextDocument((d) => this.cache.delete(d.uri.toString())));
  }

  /** The render worker's cache folder (converted checkpoints, Civitai files). */
  get engineCache(): string | undefined {
    return this.engineCacheDir;
  }

  invalidate(): void {
    this.epoch++;
    this.invalidations.fire();
  }

  /** The context the engine resolves `scene` in, or undefined for documents that are not files. */
  contextFor(scene: vscode.Uri): ResolveContext | undefined {
    if (scene.scheme !== 'file') return undefined;
    const folder = vscode.workspace.getWorkspaceFolder(scene);
    const file = scene.fsPath;
    const workspaceFolder = folder?.uri.scheme === 'file' ? folder.uri.fsPath : undefined;
    const projectRoot = workspaceFolder ?? dirname(file);
    return {
      file,
      projectRoot,
      // hf: and Civitai references are found in the caches at the commits imgprompt.lock pins (stats only).
      hub: projectHubLookup(hubCacheDir(process.env), projectRoot, this.engineCacheDir ? join(this.engineCacheDir, 'civitai') : undefined),
      modelSearchPaths: this.config.modelSearchPaths(scene),
      builtinModelsDir: this.builtinModelsDir,
      outputPattern: this.config.get(scene).outputPattern,
      defaultAudience: this.config.get(scene).defaultAudience,
      defaultLabel: this.config.get(scene).label ?? undefined,
      workspaceFolder,
      checkpointCacheDir: this.engineCacheDir,
    };
  }

  analyze(document: vscode.TextDocument): DocumentAnalysis {
    const key = document.uri.toString();
    const cached = this.cache.get(key);
    if (cached && cached.version === document.version && cached.epoch === this.epoch) return cached.result;
    const text = document.getText();
    const context = this.contextFor(document.uri);
    let result: DocumentAnalysis;
    if (context) {
      const analysis = analyzeScene(text, context);
      result = { parsed: analysis.checked, diagnostics: analysis.diagnostics, analysis, context };
    } else {
      const parsed = parseScene(text);
      result = { parsed, diagnostics: parsed.diagnostics };
    }
    this.cache.set(key, { version: document.version, epoch: this.epoch, result });
    return result;
  }

  /** The PNG a file scene writes (its `output:` or the output pattern), or undefined for non-file documents. */
  outputPath(document: vscode.TextDocument, result: DocumentAnalysis = this.analyze(document)): string | undefined {
    if (!result.context) return undefined;
    const { context } = result;
    const written = result.analysis?.checked.paths.get('output')?.path;
    return result.analysis?.resolved?.recipe.output ?? sceneOutputPath(context.file, { written, pattern: context.outputPattern, workspaceFolder: context.workspaceFolder });
  }

  override dispose(): void {
    this.cache.clear();
    super.dispose();
  }
}
