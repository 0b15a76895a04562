// Hover in scenes: documentation on keys and enumerated values, the model card on `model:`, a LoRA's
// header metadata on its path, a thumbnail on image paths and the output's state on `output:`.
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as vscode from 'vscode';
import { componentLicence, describeLicence, readModelConfig, sceneLicence, type LicenceReading, type SourcePosition, type SourceRange } from '../../engine/editor';
import { genericPath, keyDocumentation, valueDocumentation } from '../language/sceneDocs';
import { LANGUAGE_ID, type DocumentAnalysis, type SceneAnalyzer } from '../scene/sceneAnalyzer';
import { toRange } from '../diagnostics/toDiagnostic';
import { componentPresence, formatModelCard } from './modelCard';
import { formatLoraSummary, readSafetensorsHeader } from './safetensorsHeader';
import { hubRefHover } from '../hub/hubRefInfo';
import { civitaiHover } from '../hub/civitaiHover';
import { explicitEmbeddingSpans, hubCacheDir, looksLikeHubRef } from '../../engine/editor';
import { join } from 'node:path';

const IMAGE_LABEL = /^(control\[\d+\]\.image|init\.image)$/;
const LORA_LABEL = /^loras\[\d+\]\.file$/;
const CONTROLNET_LABEL = /^control\[\d+\]\.model$/;

function before(a: SourcePosition, b: SourcePosition): boolean {
  return a.line < b.line || (a.line === b.line && a.character <= b.character);
}

function contains(range: SourceRange, p: SourcePosition): boolean {
  return before(range.start, p) && before(p, range.end);
}

function span(range: SourceRange): number {
  return (range.end.line - range.start.line) * 10_000 + range.end.character - range.start.character;
}

export class SceneHoverProvider implements vscode.HoverProvider {
  static register(analyzer: SceneAnalyzer): vscode.Disposable {
    return vscode.languages.registerHoverProvider(LANGUAGE_ID, new SceneHoverProvider(analyzer));
  }

  private constructor(private readonly analyzer: SceneAnalyzer) {}

  /** Called by VS Code when the pointer rests on a scene. */
  async provideHover(document: vscode.TextDocument, position: vscode.Position): Promise<vscode.Hover | undefined> {
    const result = this.analyzer.analyze(document);
    const p = { line: position.line, character: position.character };
    // The innermost key or value under the pointer (a flow mapping's value contains its own keys).
    let best: { label: string; at: 'key' | 'value'; range: SourceRange } | undefined;
    for (const [label, location] of result.parsed.locations) {
      for (const at of ['key', 'value'] as const) {
        const range = location[at];
        if (range && contains(range, p) && (!best || span(range) < span(best.range))) best = { label, at, range };
      }
    }
    if (!best) return undefined;
    if (best.at === 'value' && (best.label === 'prompt' || best.label === 'negative')) {
      const embedding = this.embeddingHover(document, position);
      if (embedding) return embedding;
    }
    const markdown = best.at === 'key' ? keyDocumentation(best.label) : await this.valueHover(document, result, best.label);
    if (!markdown) return undefined;
    const content = new vscode.MarkdownString(markdown);
    content.supportThemeIcons = true;
    return new vscode.Hover(content, toRange(best.range));
  }

  private async valueHover(document: vscode.TextDocument, result: DocumentAnalysis, label: string): Promise<string | undefined> {
    const value = result.parsed.locations.get(label);
    const text = value ? document.getText(toRange(value.value)).replace(/^["']|["']$/g, '') : '';
    const enumerated = valueDocumentation(genericPath(label), text);
    if (enumerated) return enumerated;
    const checked = result.analysis?.checked;
    if ((label === 'model' || LORA_LABEL.test(label) || CONTROLNET_LABEL.test(label)) && looksLikeHubRef(text) && result.context) {
      // A model by reference: licence, size and whether it is downloaded, then the model card when it is.
      const places = { projectRoot: result.context.projectRoot, hubCacheDir: hubCacheDir(process.env), civitaiDir: join(this.analyzer.engineCache ?? '', 'civitai') };
      const info = hubRefHover(text, places);
      const card = label === 'model' && checked?.model ? this.modelHover(result) : undefined;
      return card ? `${info}\n\n---\n\n${card}` : info;
    }
    if (label === 'model') {
      // The scene's `license:`, else imgprompt.lock, else the model card (licence/licenceDiagnostics.ts).
      const dir = modelDirOf(result);
      const stated = checked && sceneLicence({ license: checked.scene.license });
      const reading = stated ?? (dir && checked?.model ? await componentLicence(checked.model.name, dir, true, result.context?.projectRoot) : undefined);
      return withLicence(this.modelHover(result), reading);
    }
    const path = checked?.paths.get(label)?.path;
    if (LORA_LABEL.test(label) && path) {
      const reading = await readSafetensorsHeader(path);
      const summary = reading.ok ? formatLoraSummary(text, reading.header) : `**LoRA** \`${text}\`: cannot show its metadata: ${reading.reason}`;
      // A LoRA with a card beside it (name.md, as the model's own LoRAs have) shows the card too.
      const card = await readFile(path.replace(/\.safetensors$/i, '.md'), 'utf8').catch(() => undefined);
      const civitai = await civitaiHover(path, this.analyzer.engineCache);
      const withCivitai = civitai ? `${summary}\n\n${civitai}` : summary;
      const withCard = card ? `${withCivitai}\n\n---\n\n${card.replace(/^---\r?\n[\s\S]*?\r?\n---\r?\n/, '').split('\n').slice(0, 30).join('\n')}` : withCivitai;
      const ref = checked?.paths.get(label)?.ref ?? text;
      return withLicence(withCard, await componentLicence(ref, path, false, result.context?.projectRoot));
    }
    if (IMAGE_LABEL.test(label) && path && existsSync(path)) return `![${text}](${vscode.Uri.file(path).toString()}|height=160)\n\n\`${text}\``;
    if (label === 'output') return this.outputHover(document, result);
    return undefined;
  }

  /** A prompt's `embedding:hf:...` / `embedding:civitai:...` under the pointer: what the reference is, as for a model. */
  private embeddingHover(document: vscode.TextDocument, position: vscode.Position): vscode.Hover | undefined {
    const context = this.analyzer.contextFor(document.uri);
    const line = document.lineAt(position.line).text;
    const span = explicitEmbeddingSpans(line).find((s) => looksLikeHubRef(s.ref) && s.start <= position.character && position.character <= s.end);
    if (!span || !context) return undefined;
    const places = { projectRoot: context.projectRoot, hubCacheDir: hubCacheDir(process.env), civitaiDir: join(this.analyzer.engineCache ?? '', 'civitai') };
    const info = hubRefHover(span.ref, places);
    return info ? new vscode.Hover(new vscode.MarkdownString(info), new vscode.Range(position.line, span.start, position.line, span.end)) : undefined;
  }

  private modelHover(result: DocumentAnalysis): string | undefined {
    const location = result.analysis?.checked.model;
    if (!location) return keyDocumentation('model');
    try {
      const config = result.analysis?.resolved?.model ?? readModelConfig(location.dir);
      return formatModelCard(config, location, componentPresence(config, existsSync));
    } catch (error) {
      return `**${location.name}**: this model folder is unusable: ${error instanceof Error ? error.message : String(error)}`;
    }
  }

  private outputHover(document: vscode.TextDocument, result: DocumentAnalysis): string | undefined {
    const output = this.analyzer.outputPath(document, result);
    if (!output) return undefined;
    let size: number | undefined;
    try {
      size = statSync(output).size;
    } catch {
      return `\`${output}\`\n\nNot rendered yet.`;
    }
    return `![output](${vscode.Uri.file(output).toString()}|height=200)\n\n\`${output}\` — ${(size / 1024).toFixed(1)} KiB`;
  }
}

/** The model folder a scene names, when found. */
function modelDirOf(result: DocumentAnalysis): string | undefined {
  return result.analysis?.checked.model?.dir;
}

/** Adds the licence line under a hover: its name, what it limits, where it was read. */
function withLicence(markdown: string | undefined, licence: LicenceReading | undefined): string | undefined {
  if (!markdown || !licence) return markdown;
  return `${markdown}\n\n**Licence:** ${describeLicence(licence)}`;
}
