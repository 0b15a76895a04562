// Downloads a scene's hub references before it renders (trusted workspaces only: the render queue calls
// this after its trust check), with a cancellable notification showing file, bytes, rate and ETA.
// Tokens come from VS Code's secret storage (commands "Set Hugging Face Token" / "Set Civitai Token"),
// else HF_TOKEN / CIVITAI_TOKEN; they are only held in memory for the request.
import { dirname } from 'node:path';
import * as vscode from 'vscode';
import { CancelledError, hubSettingsFromEnv, lockLocalFiles, pullSceneModels, sceneHubRefs, sceneLocalFiles, type HubRef, type HubSettings, type PullProgress } from '../../engine/editor';
import { Disposable } from '../util/disposable';
import type { CommandRunner } from '../commands/commandRunner';
import { COMMANDS } from '../commands/commandIds';

const SECRET = { hf: 'imgprompt.huggingFaceToken', civitai: 'imgprompt.civitaiToken' } as const;

function rate(bytesPerSecond: number): string {
  return `${(bytesPerSecond / 1e6).toFixed(1)} MB/s`;
}

export class ModelDownloads extends Disposable {
  constructor(
    private readonly secrets: vscode.SecretStorage,
    /** imgprompt's cache folder (Civitai files, the download record). */
    private readonly cacheDir: string,
    private readonly log: vscode.LogOutputChannel,
    /** Called when imgprompt.lock or the caches changed, so analyses are redone. */
    private readonly onChanged: () => void,
  ) {
    super();
  }

  registerCommands(runner: CommandRunner): vscode.Disposable {
    const set = (which: keyof typeof SECRET, what: string) => async () => {
      const value = await vscode.window.showInputBox({ title: `imgprompt: ${what} token`, prompt: `Stored in VS Code's secret storage; empty removes it. Used only for downloads from ${what}.`, password: true, ignoreFocusOut: true });
      if (value === undefined) return;
      if (value.trim() === '') await this.secrets.delete(SECRET[which]);
      else await this.secrets.store(SECRET[which], value.trim());
      void vscode.window.showInformationMessage(value.trim() === '' ? `imgprompt: ${what} token removed` : `imgprompt: ${what} token stored`);
    };
    return vscode.Disposable.from(runner.register(COMMANDS.setHuggingFaceToken, 'Set Hugging Face Token', set('hf', 'Hugging Face')), runner.register(COMMANDS.setCivitaiToken, 'Set Civitai Token', set('civitai', 'Civitai')));
  }

  /** Brings the scene's hub references into the caches (nothing to do: returns at once). */
  async pull(scene: vscode.Uri, text: string, projectRoot: string, signal?: AbortSignal): Promise<void> {
    const refs = sceneHubRefs(text);
    const settings = hubSettingsFromEnv(process.env, { imgpromptCacheDir: this.cacheDir, hfToken: await this.secrets.get(SECRET.hf), civitaiToken: await this.secrets.get(SECRET.civitai) });
    if (refs.length > 0) await this.pullRefs(scene, refs, projectRoot, settings, signal);
    await this.lockLocal(scene, text, projectRoot, settings, signal);
  }

  /**
   * The scene's own model/LoRA files into imgprompt.lock, with what Civitai says of them: asked only in a
   * trusted workspace with imgprompt.civitaiLookup on (and not offline); its cache answers otherwise.
   */
  private async lockLocal(scene: vscode.Uri, text: string, projectRoot: string, settings: HubSettings, signal?: AbortSignal): Promise<void> {
    const files = sceneLocalFiles(scene.fsPath, text, projectRoot);
    if (files.length === 0) return;
    const allowNetwork = vscode.workspace.isTrusted && !settings.offline && vscode.workspace.getConfiguration('imgprompt').get<unknown>('civitaiLookup', true) !== false;
    const civitai = { endpoint: settings.civitai.endpoint, cacheFile: settings.civitai.lookupCacheFile, allowNetwork };
    let result: Awaited<ReturnType<typeof lockLocalFiles>>;
    try {
      result = await lockLocalFiles(projectRoot, files, { civitai, signal, onNote: (t) => this.log.info(t) });
    } catch (error) {
      if (signal?.aborted) throw new CancelledError();
      // The scene renders without it: a lock it cannot update (malformed, read-only) is said, not fatal.
      this.log.warn(`${vscode.workspace.asRelativePath(scene)}: imgprompt.lock not updated with the project's own files: ${error instanceof Error ? error.message : String(error)}`);
      return;
    }
    if (result.lockWritten) {
      this.log.info(`${vscode.workspace.asRelativePath(scene)}: imgprompt.lock updated with the project's own files`);
      this.onChanged();
    }
  }

  private async pullRefs(scene: vscode.Uri, refs: readonly HubRef[], projectRoot: string, settings: HubSettings, signal?: AbortSignal): Promise<void> {
    const name = vscode.workspace.asRelativePath(scene);
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: `imgprompt: models for ${name}`, cancellable: true }, async (progress, token) => {
      const controller = new AbortController();
      const abort = () => controller.abort();
      signal?.addEventListener('abort', abort, { once: true });
      const sub = token.onCancellationRequested(abort);
      let file = '';
      let started = Date.now();
      let shown = 0;
      try {
        const result = await pullSceneModels(refs, projectRoot, settings, {
          signal: controller.signal,
          onNote: (t) => this.log.info(t),
          onProgress: (p: PullProgress) => {
            if (p.file !== file) {
              file = p.file;
              started = Date.now();
              shown = 0;
            }
            const percent = (p.done / p.total) * 100;
            const seconds = Math.max((Date.now() - started) / 1000, 1e-3);
            const speed = p.received / seconds;
            const eta = speed > 0 ? Math.round((p.total - p.done) / speed) : undefined;
            progress.report({ message: `${p.file} (${p.index}/${p.count}): ${percent.toFixed(0)}% · ${rate(speed)}${eta !== undefined ? ` · ${eta} s left` : ''}`, increment: (percent - shown) / p.count });
            shown = percent;
          },
        });
        for (const p of result.pulled) if (p.downloaded > 0) this.log.info(`${name}: downloaded ${(p.downloaded / 1e6).toFixed(1)} MB of ${p.entry.repo}@${p.entry.commit.slice(0, 12)}`);
        if (result.lockWritten) this.log.info(`${name}: ${dirname(scene.fsPath) === projectRoot ? '' : `${projectRoot}/`}imgprompt.lock updated`);
        if (result.lockWritten || result.pulled.some((p) => p.downloaded > 0)) this.onChanged();
      } catch (error) {
        if (controller.signal.aborted) throw new CancelledError();
        throw error;
      } finally {
        sub.dispose();
        signal?.removeEventListener('abort', abort);
      }
    });
  }
}
