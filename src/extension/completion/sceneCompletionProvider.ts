// Completion in scenes: keys (with their documentation) at key positions, and at value positions the
// allowed samplers, schedules, control types and rng names, model folder names, LoRA files and images
// relative to the scene, aspect ratios and the default output name.
import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, extname, join, relative, sep } from 'node:path';
import * as vscode from 'vscode';
import { hubCacheDir, isInside, knownLicences, SCENE_KEYS } from '../../engine/editor';
import { hubRefCandidates } from '../hub/hubRefInfo';
import type { Config } from '../config/config';
import { sceneCursor, type SceneCursor } from '../language/sceneCursor';
import { enumValues, genericPath, keyDocumentation, keysAt, schemaAt } from '../language/sceneDocs';
import { yamlScalar } from '../language/sceneTemplate';
import { LANGUAGE_ID, type SceneAnalyzer } from '../scene/sceneAnalyzer';
import { listModelFolders } from './modelFolders';

const TRIGGER_CHARACTERS = [' ', ':', '/', '"', "'"];
const LORA_GLOB = '**/*.safetensors';
const IMAGE_GLOB = '**/*.{png,jpg,jpeg,webp,PNG,JPG,JPEG,WEBP}';
const EXCLUDE_GLOB = '**/{node_modules,.git,out}/**';
const MAX_FILES = 500;
const ASPECTS = ['1:1', '3:2', '4:3', '16:9', '2:1', '2:3', '3:4', '9:16'];
const IMAGE_PATHS = new Set(['control[].image', 'init.image', 'init.mask']);

/** Block snippets for keys whose value is a mapping or list; everything else gets `key: `. */
const KEY_SNIPPETS: Record<string, string> = {
  size: 'size: {aspect: "${1:3:2}"}',
  loras: 'loras:\n  - file: $1\n    weight: ${2:1}',
  control: 'control:\n  - type: ${1|canny,scribble,raw|}\n    image: $2',
  init: 'init: {image: $1, strength: ${2:0.75}}',
  variants: 'variants: {seeds: [$1]}',
  purpose: 'purpose: ${1:Why this figure exists}',
};

export class SceneCompletionProvider implements vscode.CompletionItemProvider {
  static register(analyzer: SceneAnalyzer, config: Config, builtinModelsDir: string): vscode.Disposable {
    return vscode.languages.registerCompletionItemProvider(LANGUAGE_ID, new SceneCompletionProvider(analyzer, config, builtinModelsDir), ...TRIGGER_CHARACTERS);
  }

  private constructor(
    private readonly analyzer: SceneAnalyzer,
    private readonly config: Config,
    private readonly builtinModelsDir: string,
  ) {}

  /** Called by VS Code as the user types, or on Ctrl+Space. */
  async provideCompletionItems(document: vscode.TextDocument, position: vscode.Position, token: vscode.CancellationToken): Promise<vscode.CompletionItem[] | undefined> {
    const cursor = sceneCursor(document.getText(), position.line, position.character);
    if (cursor.kind === 'none') return undefined;
    const range = this.replaceRange(document, position, cursor);
    if (cursor.kind === 'key') return this.keys(document, position, cursor, range);
    return this.values(document, cursor, range, token);
  }

  /** From where the word being typed starts to its end (so completing in the middle of a word replaces it). */
  private replaceRange(document: vscode.TextDocument, position: vscode.Position, cursor: Exclude<SceneCursor, { kind: 'none' }>): vscode.Range {
    const line = document.lineAt(position.line).text;
    let end = position.character;
    const word = cursor.kind === 'key' ? /[\w-]/ : /[^\s,}\]"'#]/;
    while (end < line.length && word.test(line[end])) end++;
    if (cursor.kind === 'value' && cursor.quote && line[end] === cursor.quote) end++;
    return new vscode.Range(position.line, cursor.start, position.line, end);
  }

  private keys(document: vscode.TextDocument, position: vscode.Position, cursor: Extract<SceneCursor, { kind: 'key' }>, range: vscode.Range): vscode.CompletionItem[] {
    let keys = cursor.parent === '' ? [...SCENE_KEYS] : keysAt(cursor.parent);
    if (cursor.parent === '') {
      // Offer each top-level key once; the one on this line is the one being typed.
      const { locations } = this.analyzer.analyze(document).parsed;
      const present = new Set([...locations.entries()].filter(([label, l]) => !/[.[]/.test(label) && l.key && l.key.start.line !== position.line).map(([label]) => label));
      keys = keys.filter((k) => !present.has(k));
    }
    return keys.map((key, i) => {
      const path = cursor.parent ? `${cursor.parent}.${key}` : key;
      const item = new vscode.CompletionItem(key, vscode.CompletionItemKind.Property);
      const docs = keyDocumentation(path);
      if (docs) item.documentation = new vscode.MarkdownString(docs);
      item.detail = schemaType(path);
      item.range = range;
      item.sortText = String(i).padStart(3, '0');
      const snippet = !cursor.flow && cursor.parent === '' ? KEY_SNIPPETS[key] : undefined;
      item.insertText = new vscode.SnippetString(snippet ?? `${key}: $0`);
      if (!snippet && (enumValues(path).length > 0 || path === 'model' || path.endsWith('.file') || path.endsWith('.image'))) {
        item.command = { title: 'Suggest values', command: 'editor.action.triggerSuggest' };
      }
      return item;
    });
  }

  private async values(document: vscode.TextDocument, cursor: Extract<SceneCursor, { kind: 'value' }>, range: vscode.Range, token: vscode.CancellationToken): Promise<vscode.CompletionItem[] | undefined> {
    const path = genericPath(cursor.path);
    const quoted = (text: string): string => (cursor.quote ? text : yamlScalar(text));
    const enumerated = enumValues(path);
    if (enumerated.length) {
      return enumerated.map((v) => {
        const item = new vscode.CompletionItem(v.value, vscode.CompletionItemKind.EnumMember);
        if (v.description) item.documentation = new vscode.MarkdownString(v.description);
        item.detail = v.description;
        item.range = range;
        item.insertText = v.value;
        return item;
      });
    }
    if (path === 'model') return this.models(document, range);
    if (path === 'license') {
      // Any SPDX or Hugging Face id is allowed; these are the ones whose terms imgprompt judges against `purpose:`.
      const kinds = { permissive: 'permissive', 'use-restricted': 'use restrictions', 'non-commercial': 'non-commercial only' };
      return knownLicences().map((l) => {
        const item = new vscode.CompletionItem(l.id, vscode.CompletionItemKind.Value);
        item.detail = `${l.name} (${kinds[l.kind]})`;
        item.insertText = quoted(l.id);
        item.range = range;
        return item;
      });
    }
    if (path === 'control[].model') return this.hubRefs(document, range);
    if (path === 'size.aspect') {
      return ASPECTS.map((a, i) => {
        const item = new vscode.CompletionItem(a, vscode.CompletionItemKind.Value);
        item.insertText = cursor.quote ? a : `"${a}"`;
        item.range = range;
        item.sortText = String(i).padStart(2, '0');
        return item;
      });
    }
    if (document.uri.scheme !== 'file') return undefined;
    if (path === 'output') {
      const item = new vscode.CompletionItem(`${basename(document.uri.fsPath, extname(document.uri.fsPath))}.png`, vscode.CompletionItemKind.File);
      item.insertText = quoted(item.label as string);
      item.range = range;
      return [item];
    }
    if (path === 'loras[].file') return [...this.modelLoras(document, range), ...(await this.files(document, LORA_GLOB, range, quoted, token))];
    if (IMAGE_PATHS.has(path)) return this.files(document, IMAGE_GLOB, range, quoted, token);
    return undefined;
  }

  private models(document: vscode.TextDocument, range: vscode.Range): vscode.CompletionItem[] {
    const searchPaths = document.uri.scheme === 'file' ? this.config.modelSearchPaths(document.uri) : [];
    const folders = listModelFolders(searchPaths, this.builtinModelsDir).map((m) => {
      const item = new vscode.CompletionItem(m.name, vscode.CompletionItemKind.Folder);
      item.detail = m.via === 'builtin' ? 'built-in model' : m.dir;
      item.range = range;
      return item;
    });
    return [...folders, ...this.hubRefs(document, range)];
  }

  /** hf: / Civitai references from imgprompt.lock and the Hugging Face cache (local files only). */
  private hubRefs(document: vscode.TextDocument, range: vscode.Range): vscode.CompletionItem[] {
    const context = this.analyzer.contextFor(document.uri);
    if (!context) return [];
    const places = { projectRoot: context.projectRoot, hubCacheDir: hubCacheDir(process.env), civitaiDir: join(this.analyzer.engineCache ?? '', 'civitai') };
    return hubRefCandidates(places).map((c) => {
      const item = new vscode.CompletionItem(c.ref, vscode.CompletionItemKind.Reference);
      item.detail = c.detail;
      // A plain YAML scalar: `hf:org/name` has no ': ' and needs no quotes.
      item.insertText = c.ref;
      item.range = range;
      return item;
    });
  }

  /** The LoRAs the scene's model ships in its loras/ folder, offered by bare name (with their card's first line). */
  private modelLoras(document: vscode.TextDocument, range: vscode.Range): vscode.CompletionItem[] {
    const model = this.analyzer.analyze(document).analysis?.checked.model;
    if (!model) return [];
    const dir = join(model.dir, 'loras');
    let names: string[];
    try {
      names = readdirSync(dir).filter((f) => f.endsWith('.safetensors'));
    } catch {
      return [];
    }
    return names.sort().map((file, i) => {
      const name = file.slice(0, -'.safetensors'.length);
      const item = new vscode.CompletionItem(name, vscode.CompletionItemKind.Module);
      item.detail = `LoRA of ${model.name}`;
      try {
        const card = readFileSync(join(dir, `${name}.md`), 'utf8');
        // A model card's YAML front matter (licence and tags) is for tools, not for the reader.
        item.documentation = new vscode.MarkdownString(card.replace(/^---\r?\n[\s\S]*?\r?\n---\r?\n/, '').split('\n').slice(0, 12).join('\n'));
      } catch {
        // no card
      }
      item.range = range;
      item.sortText = `0${String(i).padStart(3, '0')}`;
      return item;
    });
  }

  /** Files matching `glob` in the scene's project, as paths relative to the scene. */
  private async files(document: vscode.TextDocument, glob: string, range: vscode.Range, quoted: (t: string) => string, token: vscode.CancellationToken): Promise<vscode.CompletionItem[]> {
    const context = this.analyzer.contextFor(document.uri);
    if (!context) return [];
    const root = vscode.Uri.file(context.projectRoot);
    const found = await vscode.workspace.findFiles(new vscode.RelativePattern(root, glob), EXCLUDE_GLOB, MAX_FILES, token);
    const sceneDir = dirname(context.file);
    return found
      .filter((uri) => uri.scheme === 'file' && isInside(context.projectRoot, uri.fsPath))
      .map((uri) => relative(sceneDir, uri.fsPath).split(sep).join('/'))
      .sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b))
      .map((rel, i) => {
        const item = new vscode.CompletionItem(rel, vscode.CompletionItemKind.File);
        item.insertText = quoted(rel);
        item.range = range;
        item.sortText = String(i).padStart(4, '0');
        return item;
      });
  }
}

function schemaType(path: string): string | undefined {
  const t = schemaAt(path)?.type;
  return Array.isArray(t) ? t.join(' | ') : t;
}
