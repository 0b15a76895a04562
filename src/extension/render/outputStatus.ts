// Whether each scene's PNG is missing, out of date or up to date, as shown in the scene's diagnostics.
// The diagnostics find "missing" themselves (a stat); only the renderer knows "out of date" (it compares
// recipe hashes), so it reports what it learns here and the diagnostics of that scene refresh.
import * as vscode from 'vscode';

export type OutputState =
  | { kind: 'missing' }
  | { kind: 'up-to-date' }
  | {
      kind: 'out-of-date';
      /** Why, in a phrase: `the prompt changed`, `the model files changed`, `rendered by another engine version`. */
      reason?: string;
    };

export interface OutputReport {
  /** Absolute path of the PNG the state is about (a report for another path is ignored, e.g. after `output:` changed). */
  output: string;
  state: OutputState;
}

export class OutputStatus implements vscode.Disposable {
  private readonly reports = new Map<string, OutputReport>();
  private readonly changes = new vscode.EventEmitter<vscode.Uri>();
  /** Fires with the scene whose output state changed. */
  readonly onDidChange = this.changes.event;

  /** Called by the renderer after it has compared a scene's recipe hash with its PNG (or rendered it). */
  report(scene: vscode.Uri, report: OutputReport): void {
    this.reports.set(scene.toString(), report);
    this.changes.fire(scene);
  }

  /** Forgets what was reported (e.g. the scene was edited, so the comparison is stale). */
  forget(scene: vscode.Uri): void {
    if (this.reports.delete(scene.toString())) this.changes.fire(scene);
  }

  /** The renderer's last word on `output` of `scene`, if it still concerns that output path. */
  reported(scene: vscode.Uri, output: string): OutputState | undefined {
    const r = this.reports.get(scene.toString());
    return r && r.output === output ? r.state : undefined;
  }

  dispose(): void {
    this.changes.dispose();
    this.reports.clear();
  }
}
