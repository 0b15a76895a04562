// The extension's settings, read through one typed class: values are validated by normalizeSettings
// (a bad value falls back to its default and is logged once), model folders are resolved per workspace
// folder, and one event says which settings changed.
import * as vscode from 'vscode';
import { DEFAULT_SETTINGS, SETTINGS_SECTION, normalizeSettings, resolveModelPaths, type SettingName, type Settings } from './settings';

/** Settings contributed with `"scope": "window"` in package.json. */
const WINDOW_SCOPED = new Set<SettingName>(['previewFollowsEditor']);

export interface ConfigChange {
  affects(name: SettingName, scope?: vscode.Uri): boolean;
}

export class Config implements vscode.Disposable {
  private readonly changes = new vscode.EventEmitter<ConfigChange>();
  readonly onDidChange = this.changes.event;
  private readonly subscription: vscode.Disposable;
  /** Problems already logged, so a bad value is reported once, not on every keystroke. */
  private readonly reported = new Set<string>();

  constructor(private readonly log: vscode.LogOutputChannel) {
    this.subscription = vscode.workspace.onDidChangeConfiguration((e) => {
      if (!e.affectsConfiguration(SETTINGS_SECTION)) return;
      this.reported.clear();
      this.changes.fire({ affects: (name, scope) => e.affectsConfiguration(`${SETTINGS_SECTION}.${name}`, scope) });
    });
  }

  /** Every setting as it applies to `scope` (a scene or folder; settings may differ per workspace folder). */
  get(scope?: vscode.Uri): Settings {
    const c = vscode.workspace.getConfiguration(SETTINGS_SECTION, scope);
    // Window-scoped settings are read without a resource (VS Code warns otherwise).
    const window = vscode.workspace.getConfiguration(SETTINGS_SECTION);
    const raw: Partial<Record<SettingName, unknown>> = {};
    for (const name of Object.keys(DEFAULT_SETTINGS) as SettingName[]) raw[name] = (WINDOW_SCOPED.has(name) ? window : c).get<unknown>(name);
    const { settings, problems } = normalizeSettings(raw);
    for (const problem of problems) {
      if (this.reported.has(problem)) continue;
      this.reported.add(problem);
      this.log.warn(problem);
    }
    return settings;
  }

  /**
   * Absolute model folders for a scene: `imgprompt.modelPaths`, relative entries resolved against the
   * scene's workspace folder. In Restricted Mode VS Code itself ignores workspace values of this setting
   * (it is listed in `restrictedConfigurations`), so an untrusted folder cannot point us at other files.
   */
  modelSearchPaths(scene: vscode.Uri): string[] {
    const folder = vscode.workspace.getWorkspaceFolder(scene);
    return resolveModelPaths(this.get(scene).modelPaths, folder?.uri.scheme === 'file' ? folder.uri.fsPath : undefined);
  }

  dispose(): void {
    this.subscription.dispose();
    this.changes.dispose();
  }
}
