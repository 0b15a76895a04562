// What the renderer last learned about each scene's PNG (the engine's freshness judgement: missing, stale
// with why, up to date), as shown in the scene's diagnostics and the preview. The diagnostics find
// "missing" themselves (a stat); only the renderer knows "stale" (it compares recipe hashes), so it
// reports what it learns here and the diagnostics of that scene refresh.
import * as vscode from 'vscode';
import type { FreshnessState } from '../../engine/editor';

export interface OutputReport {
  /** Absolute path of the PNG the state is about (a report for another path is ignored, e.g. after `output:` changed). */
  output: string;
  /** The engine's judgement; `reason` says why a stale output is stale (`seed: 1 → 2`). */
  freshness: { state: FreshnessState; reason?: string };
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
  reported(scene: vscode.Uri, output: string): OutputReport['freshness'] | undefined {
    const r = this.reports.get(scene.toString());
    return r && r.output === output ? r.freshness : undefined;
  }

  dispose(): void {
    this.changes.dispose();
    this.reports.clear();
  }
}
