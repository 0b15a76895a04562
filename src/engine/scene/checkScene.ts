// Checks what a parsed scene references on disk: the model folder, LoRA files, hint and init images and
// the output path. Only stats (through an injectable file system), so it is cheap enough per keystroke.
// Paths resolve against the scene's folder and must stay inside the project root, so a project renders
// the same wherever it is checked out; model folders found by name may live anywhere.
import { dirname, extname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import type { SceneDiagnostic } from '../errors';
import { isBareModelName, locateModel, type ModelLocation } from '../model/modelConfig';
import { findConvertedCheckpoint } from '../checkpoint/convertedCheckpoints';
import { isWeightsFileName, weightsFileVerdict } from '../checkpoint/weightsFileVerdict';
import { didYouMean } from './didYouMean';
import { parseScene, sortDiagnostics, type ParsedScene } from './parseScene';
import { nodeFileSystem, type SceneFileSystem } from '../io/sceneFileSystem';
import { SCENE_DEFAULTS } from './sceneSpec';
import type { HubLookup } from '../hub/hubCache';
import { looksLikeHubRef } from '../hub/hubRef';
import { locateHubRef } from './locateHubRef';

export interface SceneContext {
  /** Absolute path of the scene file. */
  file: string;
  /** Absolute path of the project (the CLI: the nearest ancestor with .git, else the working directory). */
  projectRoot: string;
  /** Configured model folders, searched in order for a bare model name. */
  modelSearchPaths?: readonly string[];
  /** The built-in models/ folder, searched after the configured ones. */
  builtinModelsDir?: string;
  /** Defaults to the real disk. */
  fs?: SceneFileSystem;
  /** The engine's cache folder, where converted single-file checkpoints are found (convertedCheckpoints.ts). */
  checkpointCacheDir?: string;
  /** Where `hf:` model, LoRA, ControlNet and embedding references are found (the Hugging Face hub cache); without it they are errors. */
  hub?: HubLookup;
}

/** A referenced file, resolved. */
export interface ScenePath {
  /** Absolute and normalised. */
  path: string;
  /** Project-relative with forward slashes: the same on every machine and checkout. */
  ref: string;
}

export interface CheckedScene extends ParsedScene {
  /** The model folder, when found. */
  model?: ModelLocation;
  /** Resolved paths of the files the scene names, by location path (`loras[0].file`, `init.image`, `output`). */
  paths: ReadonlyMap<string, ScenePath>;
  /** A model source (single-file checkpoint) that renders once converted (convertedCheckpoints.ts). */
  pendingConversion?: string;
}

/** True when `path` is `root` or inside it. */
export function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
}

/** Project-relative POSIX path of `path`. */
export function projectRef(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

class FileChecker {
  readonly diagnostics: SceneDiagnostic[] = [];
  readonly paths = new Map<string, ScenePath>();
  /** A single-file checkpoint the scene names that has not been converted yet. */
  pendingConversion?: string;
  private readonly fs: SceneFileSystem;
  private readonly sceneDir: string;
  private readonly root: string;

  constructor(
    private readonly parsed: ParsedScene,
    private readonly context: SceneContext,
  ) {
    this.fs = context.fs ?? nodeFileSystem;
    this.sceneDir = dirname(resolve(context.file));
    this.root = resolve(context.projectRoot);
  }

  private range(label: string) {
    return this.parsed.locations.get(label)?.value ?? this.parsed.lines.range(0, 0);
  }

  private error(code: string, message: string, label: string): void {
    this.diagnostics.push({ severity: 'error', code, message, range: this.range(label) });
  }

  /** Resolves a path written in the scene; reports absolute paths and paths outside the project. */
  resolvePath(label: string, written: string): ScenePath | undefined {
    const path = resolve(this.sceneDir, written);
    if (!isInside(this.root, path)) {
      this.error('outside-project', `${label} '${written}' is outside the project folder ${this.root}; scenes may only reference files inside their project, so it renders the same on every checkout`, label);
      return undefined;
    }
    // The textual check is not enough: a symbolic link inside the project (to a file or a folder on the
    // way) may lead anywhere. What the path really names must be inside the project too.
    if (this.fs.realpath) {
      const real = this.fs.realpath(path);
      if (!isInside(this.fs.realpath(this.root), real)) {
        this.error('outside-project', `${label} '${written}' leads outside the project folder through a symbolic link (to ${real}); scenes may only reference files inside their project`, label);
        return undefined;
      }
    }
    if (isAbsolute(written)) {
      this.diagnostics.push({
        severity: 'warning',
        code: 'absolute-path',
        message: `${label} '${written}' is absolute; write it relative to the scene ('${projectRef(this.sceneDir, path) || '.'}') so the project renders on other machines`,
        range: this.range(label),
      });
    }
    const scenePath = { path, ref: projectRef(this.root, path) };
    this.paths.set(label, scenePath);
    return scenePath;
  }

  inputFile(label: string, written: string, what: string): void {
    const p = this.resolvePath(label, written);
    if (!p) return;
    const kind = this.fs.stat(p.path);
    if (kind === 'directory') this.error('missing-file', `${what} '${written}' is a folder, not a file`, label);
    else if (kind !== 'file') this.error('missing-file', `${what} '${written}' not found (paths are relative to the scene's folder)`, label);
  }

  /**
   * A LoRA: a .safetensors path relative to the scene, or the bare name of one the model ships
   * (`outline` → the model folder's `loras/outline.safetensors`).
   */
  lora(label: string, written: string, model: ModelLocation | undefined): void {
    if (looksLikeHubRef(written)) {
      const p = this.hubPath(label, written, 'LoRA');
      if (p && this.fs.stat(p.path) !== 'file') this.error('missing-file', `LoRA '${written}' is a folder; name the .safetensors file in the repository (hf:org/name/file.safetensors)`, label);
      return;
    }
    if (!isBareLoraName(written)) return this.inputFile(label, written, 'LoRA file');
    if (!model) return;
    const path = join(model.dir, 'loras', `${written}.safetensors`);
    if (this.fs.stat(path) !== 'file') {
      this.error('missing-file', `LoRA '${written}' not found: model ${model.name} has no loras/${written}.safetensors (a LoRA of your own is a path relative to the scene, ending in .safetensors)`, label);
      return;
    }
    this.paths.set(label, { path, ref: `${model.name}/loras/${written}.safetensors` });
  }

  /**
   * A hub reference (`hf:org/name[@rev][/file]`, Civitai): its file or folder in the hub cache, found by
   * stats only; never downloaded here (`imgprompt models pull` and render do that).
   */
  hubPath(label: string, written: string, what: string): ScenePath | undefined {
    const located = locateHubRef(written, what, this.context.hub, this.fs);
    if ('code' in located) {
      this.error(located.code, located.message, label);
      return undefined;
    }
    this.paths.set(label, located);
    return located;
  }

  /**
   * The ControlNet a `control:` entry names: a hub reference or a folder inside the project, either
   * holding an ONNX ControlNet (model.onnx, as the model folder's controlnet/<type>/ does).
   */
  controlNet(label: string, written: string): void {
    const p = looksLikeHubRef(written) ? this.hubPath(label, written, 'ControlNet') : this.resolvePath(label, written);
    if (!p) return;
    if (this.fs.stat(join(p.path, 'model.onnx')) !== 'file') {
      this.paths.delete(label);
      this.error('missing-controlnet', `ControlNet '${written}' (${p.path}) has no model.onnx; name a folder holding an ONNX ControlNet (as a model folder's controlnet/<type>/)`, label);
    }
  }

  /**
   * A checkpoint file named bare (`dreamshaper_8.safetensors`) and absent beside the scene: the first of
   * the configured model folders holding it (A1111's models/Stable-diffusion, ComfyUI's
   * models/checkpoints). Those folders are the user's own, outside any project, so the recipe names the
   * file by its bare name; its bytes enter the recipe through the conversion's sha256.
   */
  searchedWeightsFile(label: string, written: string): ScenePath | undefined {
    const searched = (this.context.modelSearchPaths ?? []).map((folder) => resolve(this.sceneDir, folder, written));
    const path = searched.find((candidate) => this.fs.stat(candidate) === 'file');
    if (path === undefined) {
      const places = [resolve(this.sceneDir, written), ...searched].join(', ');
      this.error('weights-file', `model '${written}' not found; looked in ${places}${searched.length ? '' : ' (no model folders are configured: the imgprompt.modelPaths setting, or --model-path DIR / IMGPROMPT_MODEL_PATH for the CLI)'}`, label);
      return undefined;
    }
    const scenePath = { path, ref: written };
    this.paths.set(label, scenePath);
    return scenePath;
  }

  model(written: string): ModelLocation | undefined {
    const label = 'model';
    if (looksLikeHubRef(written)) {
      const p = this.hubPath(label, written, 'model');
      if (!p) return undefined;
      if (this.fs.stat(p.path) === 'file') {
        if (!isWeightsFileName(p.path)) {
          this.error('weights-file', `model '${written}' is a single file that is not a checkpoint (.safetensors, .ckpt); name the repository or a folder in it`, label);
          return undefined;
        }
        const verdict = weightsFileVerdict(p.path);
        const converted = verdict.convertible && this.context.checkpointCacheDir ? findConvertedCheckpoint(p.path, this.context.checkpointCacheDir) : undefined;
        if (converted) return { dir: converted, via: 'hub', name: p.ref };
        if (verdict.convertible) {
          this.pendingConversion = p.path;
          this.diagnostics.push({ severity: 'warning', code: 'checkpoint-unconverted', message: verdict.message, range: this.range(label) });
        } else this.error('weights-file', verdict.message, label);
        return undefined;
      }
      if (this.fs.stat(join(p.path, 'model_index.json')) !== 'file') {
        this.error('missing-model', `model '${written}' (${p.path}) has no model_index.json; expected a diffusers/optimum ONNX export`, label);
        return undefined;
      }
      return { dir: p.path, via: 'hub', name: p.ref };
    }
    if (isWeightsFileName(written)) {
      // A checkpoint file rather than a model folder: its converted folder once it has been converted,
      // else say what it is (converted on first render, or why it cannot run here).
      const searched = isBareModelName(written) && this.fs.stat(resolve(this.sceneDir, written)) !== 'file';
      const p = searched ? this.searchedWeightsFile(label, written) : this.resolvePath(label, written);
      if (!p) return undefined;
      const verdict = weightsFileVerdict(p.path);
      const converted = verdict.convertible && this.context.checkpointCacheDir ? findConvertedCheckpoint(p.path, this.context.checkpointCacheDir) : undefined;
      if (converted) return { dir: converted, via: searched ? 'search' : 'path', name: p.ref };
      if (verdict.convertible) {
        this.pendingConversion = p.path;
        this.diagnostics.push({ severity: 'warning', code: 'checkpoint-unconverted', message: verdict.message, range: this.range(label) });
      }
      else this.error('weights-file', verdict.message, label);
      return undefined;
    }
    const found = locateModel(written, {
      sceneDir: this.sceneDir,
      modelSearchPaths: this.context.modelSearchPaths,
      builtinModelsDir: this.context.builtinModelsDir,
      fs: this.fs,
    });
    if ('searched' in found) {
      if (!isBareModelName(written) && !isInside(this.root, found.searched[0])) {
        this.error('outside-project', `model folder '${written}' is outside the project folder ${this.root}; put it in a configured model folder and refer to it by name`, label);
        return undefined;
      }
      const local = resolve(this.sceneDir, written);
      let hint = '';
      if (isBareModelName(written)) {
        // Only on this error path do we list folders: the names a bare model name could have meant.
        const known = [...new Set(found.searched.flatMap((p) => this.fs.subfolders?.(dirname(p)) ?? []))];
        const guess = didYouMean(written, known);
        if (guess !== undefined) hint = `; did you mean '${guess}'?`;
        else if (this.fs.stat(local) === 'directory') hint = `; a folder '${written}' exists beside the scene: write './${written}' to use it`;
      }
      const places = found.searched.length ? found.searched.join(', ') : 'no model folders are configured';
      this.error('missing-model', `model '${written}' not found; looked in ${places}${hint}`, label);
      return undefined;
    }
    if (found.via === 'path') {
      const p = this.resolvePath(label, written);
      if (!p) return undefined;
      found.name = p.ref;
    }
    const index = join(found.dir, 'model_index.json');
    if (this.fs.stat(index) !== 'file') {
      this.error('missing-model', `model folder ${found.dir} has no model_index.json; expected a diffusers/optimum ONNX export`, label);
      return undefined;
    }
    return found;
  }

  output(written: string): void {
    const label = 'output';
    if (extname(written).toLowerCase() !== '.png') {
      this.error('bad-output', `output '${written}' must be a .png file`, label);
      return;
    }
    const p = this.resolvePath(label, written);
    if (p && this.fs.stat(p.path) === 'directory') this.error('bad-output', `output '${written}' is a folder; give the path of a .png file`, label);
  }
}

/** A name without a folder or extension names one of the model's own LoRAs. */
export function isBareLoraName(written: string): boolean {
  return /^[A-Za-z0-9][\w.-]*$/.test(written) && !/\.safetensors$/i.test(written);
}

/** Checks the files a parsed scene references. Returns the parse diagnostics plus the file diagnostics. */
export function checkParsedScene(parsed: ParsedScene, context: SceneContext): CheckedScene {
  const checker = new FileChecker(parsed, context);
  const { scene } = parsed;
  let model: ModelLocation | undefined;
  // A scene with YAML syntax errors has no trustworthy structure; its references are not checked.
  if (!parsed.diagnostics.some((d) => d.code === 'yaml-syntax')) {
    const modelLocation = parsed.locations.get('model');
    if (scene.model !== undefined || !modelLocation) model = checker.model(scene.model ?? SCENE_DEFAULTS.model);
    scene.loras.forEach((l, i) => checker.lora(`loras[${i}].file`, l.file, model));
    scene.control.forEach((c, i) => checker.inputFile(`control[${i}].image`, c.image, 'hint image'));
    scene.control.forEach((c, i) => c.model !== undefined && checker.controlNet(`control[${i}].model`, c.model));
    if (scene.init) checker.inputFile('init.image', scene.init.image, 'init image');
    if (scene.init?.mask !== undefined) checker.inputFile('init.mask', scene.init.mask, 'init mask');
    if (scene.output !== undefined) checker.output(scene.output);
  }
  return { ...parsed, diagnostics: sortDiagnostics([...parsed.diagnostics, ...checker.diagnostics]), model, paths: checker.paths, pendingConversion: checker.pendingConversion };
}

/** Parses a scene and checks the files it references. Never throws for problems in the scene. */
export function checkScene(text: string, context: SceneContext): CheckedScene {
  return checkParsedScene(parseScene(text), context);
}
