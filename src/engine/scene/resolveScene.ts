// Resolves a checked scene against its model's configuration into canonical recipes: defaults filled
// from the model (size, sampler, schedule, steps, guidance), the size budget put on the model's grid,
// paths absolute. Model-dependent problems (bad configs, sizes off the grid, sizes far beyond what the
// model was trained at) are reported here, at the scene line they concern.
import { resolve } from 'node:path';
import { ModelError, SceneError, type SceneDiagnostic, type SourceRange } from '../errors';
import { controlNetDir, readModelConfig, type ModelConfig } from '../model/modelConfig';
import { checkScene, type CheckedScene, type SceneContext, type ScenePath } from './checkScene';
import { bucketForBudget, nearestGridMultiples, sizeForBudget } from './megapixelBudget';
import { hasErrors, sortDiagnostics } from './parseScene';
import { RECIPE_FORMAT, type Recipe, type RecipeFile } from './recipe';
import { SCENE_DEFAULTS, type Audience } from './sceneSpec';
import { findConvertedCheckpoint } from '../checkpoint/convertedCheckpoints';
import { isDiffusersPipelineFolder } from '../checkpoint/convert/convertDiffusers';
import { hintOutputPath, sceneOutputPath, variantOutputPath } from './outputPaths';
import { nodeFileSystem, type SceneFileSystem } from '../io/sceneFileSystem';
import { resolveTuningOptions } from './sceneOptions';
import { findEmbeddings } from './embeddingFiles';
import { defaultLabelSize, LABEL_DEFAULTS, type LabelCorner } from '../watermark/visibleLabel';
import type { LabelSetting } from '../watermark/labelSetting';

export interface ResolveContext extends SceneContext {
  /** Reads a model folder's configs. Long-lived hosts pass a caching loader; defaults to readModelConfig. */
  loadModelConfig?: (dir: string) => ModelConfig;
  /** Where the output goes when the scene has no `output:` key (the editor's `imgprompt.outputPattern`). */
  outputPattern?: string;
  /** The workspace folder holding the scene, for `${workspaceFolder}` in the pattern. */
  workspaceFolder?: string;
  /** The audience of scenes without an `audience:` key (the editor's `imgprompt.defaultAudience`). */
  defaultAudience?: Audience;
  /** The visible label of scenes without a `label:` key (the editor's `imgprompt.label`, the CLI's IMGPROMPT_LABEL). */
  defaultLabel?: LabelSetting;
  /** The largest render allowed, in megapixels (default MAX_RENDER_MEGAPIXELS; IMGPROMPT_MAX_MEGAPIXELS in the CLI). */
  maxMegapixels?: number;
}

/**
 * The largest figure rendered unless explicitly allowed: 2048×2048. Beyond it the VAE alone needs
 * gigabytes of activations and SD-family models repeat subjects; render smaller and upscale.
 */
export const MAX_RENDER_MEGAPIXELS = (2048 * 2048) / 1e6;

export interface ResolvedScene {
  recipe: Recipe;
  /** One recipe per `variants.seeds` entry, each writing `<output stem>-<seed>.png` beside the output. */
  variants: Recipe[];
  model: ModelConfig;
  /** Warnings only; errors make resolveScene throw. */
  diagnostics: SceneDiagnostic[];
  checked: CheckedScene;
}

export interface SceneAnalysis {
  checked: CheckedScene;
  /** A model source (single-file checkpoint or diffusers folder) that renders once converted. */
  pendingConversion?: string;
  /** Every problem: parse, files, model and size. */
  diagnostics: SceneDiagnostic[];
  /** Present when there are no errors. */
  resolved?: ResolvedScene;
}

/** Sizes beyond this multiple of the native area make SD-family models repeat subjects. */
export const COMFORTABLE_AREA_RATIO = 1.5;
/** A budget resolution worse than this is worth a warning (area, aspect). */
const APPROXIMATION_WARNING = { area: 0.15, aspect: 0.06 };

function percent(x: number): string {
  return `${Math.round(Math.abs(x) * 100)}%`;
}

class Resolver {
  readonly diagnostics: SceneDiagnostic[] = [];

  constructor(private readonly checked: CheckedScene) {}

  range(label: string, at: 'key' | 'value'): SourceRange {
    const loc = this.checked.locations.get(label);
    return (at === 'key' ? loc?.key : undefined) ?? loc?.value ?? this.checked.lines.range(0, 0);
  }

  /** Reports at the value of `label`, or at its key (for whole mappings such as `size`, whose value spans lines). */
  report(severity: 'error' | 'warning', code: string, message: string, label: string, at: 'key' | 'value' = 'value'): void {
    this.diagnostics.push({ severity, code, message, range: this.range(label, at) });
  }

  size(model: ModelConfig, maxMegapixels: number): { width: number; height: number } | undefined {
    const size = this.checked.scene.size;
    const grid = model.grid;
    const gridWhy = `${grid} px, the grid of model ${model.name} (${model.vaeScaleFactor}× VAE × ${model.unetDownsampleFactor}× UNet downsampling)`;
    let width: number;
    let height: number;
    if (!size) {
      width = model.nativeWidth;
      height = model.nativeHeight;
    } else if (size.kind === 'pixels') {
      let ok = true;
      for (const key of ['width', 'height'] as const) {
        const v = size[key];
        if (v % grid !== 0) {
          const [below, above] = nearestGridMultiples(v, grid);
          this.report('error', 'size-off-grid', `size.${key} ${v} is not a multiple of ${gridWhy}; use ${below} or ${above}`, `size.${key}`);
          ok = false;
        }
      }
      if (!ok) return undefined;
      ({ width, height } = size);
    } else {
      const nativeMegapixels = (model.nativeWidth * model.nativeHeight) / 1e6;
      const megapixels = size.megapixels ?? nativeMegapixels;
      const aspect = size.aspect ?? SCENE_DEFAULTS.aspect;
      // A size the model was trained at (SDXL's buckets) when one is close to the budget and aspect.
      const chosen = bucketForBudget(model.buckets, megapixels, aspect) ?? sizeForBudget(megapixels, aspect, grid);
      ({ width, height } = chosen);
      if (Math.abs(chosen.areaError) > APPROXIMATION_WARNING.area || Math.abs(chosen.aspectError) > APPROXIMATION_WARNING.aspect) {
        this.report(
          'warning',
          'size-approximate',
          `the closest size on ${gridWhy} is ${width}x${height}: area ${percent(chosen.areaError)} ${chosen.areaError < 0 ? 'under' : 'over'} the budget, aspect ${percent(chosen.aspectError)} off`,
          'size',
          'key',
        );
      }
    }
    if ((width * height) / 1e6 > maxMegapixels + 1e-9) {
      this.report(
        'error',
        'size-too-large',
        `${width}x${height} is ${((width * height) / 1e6).toFixed(2)} megapixels, over the ${maxMegapixels.toFixed(2)} a render may have (set IMGPROMPT_MAX_MEGAPIXELS to allow more); render smaller and upscale`,
        'size',
        'key',
      );
      return undefined;
    }
    const ratio = (width * height) / (model.nativeWidth * model.nativeHeight);
    if (ratio > COMFORTABLE_AREA_RATIO) {
      const nativeMp = (model.nativeWidth * model.nativeHeight) / 1e6;
      this.report(
        'warning',
        'size-above-native',
        `${width}x${height} is ${ratio.toFixed(2)}× the area ${model.name} was trained at (${model.nativeWidth}x${model.nativeHeight}); beyond ~${COMFORTABLE_AREA_RATIO}× SD-family models repeat subjects: render at about ${nativeMp.toPrecision(2)} megapixels and upscale instead`,
        'size',
        'key',
      );
    }
    return { width, height };
  }
}

function file(paths: ReadonlyMap<string, ScenePath>, label: string): RecipeFile {
  const p = paths.get(label);
  if (!p) throw new Error(`internal error: no resolved path for ${label}`);
  return { path: p.path, ref: p.ref };
}

function normaliseText(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}

/** Everything about a scene: all diagnostics, and the recipes when there are no errors. Never throws for scene problems. */
export function analyzeScene(input: string | CheckedScene, context: ResolveContext): SceneAnalysis {
  const checked = typeof input === 'string' ? checkScene(input, context) : input;
  if (hasErrors(checked.diagnostics) || !checked.model) return { checked, diagnostics: checked.diagnostics, pendingConversion: checked.pendingConversion };
  const resolver = new Resolver(checked);
  let modelDir = checked.model.dir;
  if (isDiffusersPipelineFolder(modelDir, context.fs)) {
    // A diffusers folder of safetensors (as Hugging Face hosts SD) renders from its converted folder.
    const converted = context.checkpointCacheDir ? findConvertedCheckpoint(modelDir, context.checkpointCacheDir) : undefined;
    if (!converted) {
      resolver.report('warning', 'checkpoint-unconverted', `${modelDir} is a diffusers folder of safetensors; it is converted into an ONNX model folder on its first render (once per content, then cached)`, 'model');
      return { checked, diagnostics: sortDiagnostics([...checked.diagnostics, ...resolver.diagnostics]), pendingConversion: modelDir };
    }
    modelDir = converted;
  }
  let model: ModelConfig;
  try {
    model = (context.loadModelConfig ?? ((dir: string) => readModelConfig(dir, context.fs)))(modelDir);
  } catch (error) {
    if (!(error instanceof ModelError)) throw error;
    resolver.report('error', 'model-config', `model '${checked.scene.model ?? SCENE_DEFAULTS.model}' is unusable: ${error.message}`, 'model');
    return { checked, diagnostics: sortDiagnostics([...checked.diagnostics, ...resolver.diagnostics]) };
  }
  const size = resolver.size(model, context.maxMegapixels ?? MAX_RENDER_MEGAPIXELS);
  for (const [i, c] of checked.scene.control.entries()) {
    if (c.model === undefined && !controlNetDir(model, c.type, context.fs)) {
      resolver.report(
        'error',
        'no-controlnet',
        `model ${model.name} has no ControlNet for '${c.type}' hints (declare one in its model_index.json under imgprompt.controlnets, or add controlnet/${c.type}/)`,
        `control[${i}].type`,
      );
    }
  }
  const diagnostics = sortDiagnostics([...checked.diagnostics, ...resolver.diagnostics]);
  if (!size || hasErrors(diagnostics)) return { checked, diagnostics };

  const { scene, paths } = checked;
  const sceneFile = resolve(context.file);
  const output = sceneOutputPath(sceneFile, { written: paths.get('output')?.path, pattern: context.outputPattern, workspaceFolder: context.workspaceFolder });
  const modelFile: RecipeFile = { path: model.dir, ref: checked.model.name };
  const recipe: Recipe = {
    format: RECIPE_FORMAT,
    scene: sceneFile,
    model: modelFile,
    prompt: normaliseText(scene.prompt ?? ''),
    negative: normaliseText(scene.negative ?? SCENE_DEFAULTS.negative),
    seed: (scene.seed ?? SCENE_DEFAULTS.seed).toString(),
    width: size.width,
    height: size.height,
    sampler: scene.sampler ?? model.defaults.sampler,
    schedule: scene.schedule ?? model.defaults.schedule,
    steps: scene.steps ?? model.defaults.steps,
    guidance: scene.guidance ?? model.defaults.guidance,
    rng: scene.rng ?? SCENE_DEFAULTS.rng,
    precision: scene.precision ?? SCENE_DEFAULTS.precision,
    options: resolveTuningOptions(scene.options),
    loras: scene.loras.map((l, i) => ({ ...file(paths, `loras[${i}].file`), weight: l.weight ?? SCENE_DEFAULTS.loraWeight })),
    control: scene.control.map((c, i) => ({
      ...file(paths, `control[${i}].image`),
      type: c.type,
      strength: c.strength ?? SCENE_DEFAULTS.controlStrength,
      start: c.start ?? SCENE_DEFAULTS.controlStart,
      end: c.end ?? SCENE_DEFAULTS.controlEnd,
      ...(c.model !== undefined ? { net: file(paths, `control[${i}].model`) } : {}),
    })),
    init: scene.init
      ? { ...file(paths, 'init.image'), strength: scene.init.strength ?? SCENE_DEFAULTS.initStrength, ...(scene.init.mask === undefined ? {} : { mask: file(paths, 'init.mask') }) }
      : null,
    output,
    purpose: scene.purpose === undefined ? null : normaliseText(scene.purpose),
    ...(scene.backend === undefined ? {} : { backend: scene.backend }),
    audience: scene.audience ?? context.defaultAudience ?? SCENE_DEFAULTS.audience,
    ...(scene.license === undefined ? {} : { license: scene.license }),
  };
  // The scene's own `label:` wins; `label: off` is false and so takes no default from the setting.
  const label = scene.label === false ? undefined : (scene.label ?? context.defaultLabel);
  if (label) {
    recipe.label = {
      text: label.text ?? LABEL_DEFAULTS.text,
      corner: (label.corner as LabelCorner | undefined) ?? LABEL_DEFAULTS.corner,
      size: label.size ?? defaultLabelSize(size.width, size.height),
      opacity: label.opacity ?? LABEL_DEFAULTS.opacity,
    };
  }
  const embedded = findEmbeddings({
    fs: context.fs ?? nodeFileSystem,
    modelDir: model.dir,
    sceneFile,
    projectRoot: context.projectRoot,
    hub: context.hub,
    texts: [
      { text: recipe.prompt, range: resolver.range('prompt', 'value') },
      { text: recipe.negative, range: resolver.range('negative', 'value') },
    ],
  });
  if (embedded.diagnostics.length > 0) return { checked, diagnostics: sortDiagnostics([...diagnostics, ...embedded.diagnostics]) };
  if (embedded.embeddings.length > 0) recipe.embeddings = embedded.embeddings;
  const variants = (scene.variants ?? [])
    .filter((seed) => seed.toString() !== recipe.seed)
    .map((seed): Recipe => ({ ...recipe, seed: seed.toString(), output: variantOutputPath(output, seed) }));
  const clash = outputClash(recipe, variants, context.fs ?? nodeFileSystem);
  if (clash) {
    const where = paths.has('output') ? 'output' : undefined;
    const range = where ? resolver.range(where, 'value') : checked.lines.lineRange(0);
    const error: SceneDiagnostic = { severity: 'error', code: 'output-overwrites-input', message: clash, range };
    return { checked, diagnostics: sortDiagnostics([...diagnostics, error]) };
  }
  const warnings = diagnostics.filter((d) => d.severity !== 'error');
  return { checked, diagnostics, resolved: { recipe, variants, model, diagnostics: warnings, checked } };
}

/**
 * Why a render of these recipes would overwrite one of its own inputs (the scene, a LoRA, a hint or init
 * image) — by path, through a symbolic link, or as a hard link to the same file — or undefined. Checked
 * for every file a render may write: the figure, its variants and its saved hint images.
 */
function outputClash(recipe: Recipe, variants: readonly Recipe[], fs: SceneFileSystem): string | undefined {
  const inputs: { path: string; what: string }[] = [
    { path: recipe.scene, what: 'the scene file itself' },
    ...recipe.loras.map((l, i) => ({ path: l.path, what: `its LoRA loras[${i}] (${l.ref})` })),
    ...recipe.control.map((c, i) => ({ path: c.path, what: `its hint image control[${i}] (${c.ref})` })),
    ...recipe.control.flatMap((c, i) => (c.net ? [{ path: c.net.path, what: `its ControlNet control[${i}].model (${c.net.ref})` }] : [])),
    ...(recipe.init ? [{ path: recipe.init.path, what: `its init image (${recipe.init.ref})` }] : []),
    ...(recipe.init?.mask ? [{ path: recipe.init.mask.path, what: `its init mask (${recipe.init.mask.ref})` }] : []),
    ...(recipe.embeddings ?? []).map((e) => ({ path: e.path, what: `its embedding ${e.name} (${e.ref})` })),
  ];
  const real = (p: string) => fs.realpath?.(p) ?? p;
  const writes = [recipe, ...variants].flatMap((r) => [r.output, ...recipe.control.map((_c, i) => hintOutputPath(r.output, i + 1))]);
  for (const written of writes) {
    const writtenId = fs.identity?.(written);
    for (const input of inputs) {
      const same = written === input.path || real(written) === real(input.path) || (writtenId !== undefined && writtenId === fs.identity?.(input.path));
      if (same) return `a render would write ${written}, which is ${input.what}: choose another output so no input is overwritten`;
    }
  }
  return undefined;
}

/** Resolves a scene to its recipes, or throws SceneError carrying every diagnostic. */
export function resolveScene(input: string | CheckedScene, context: ResolveContext): ResolvedScene {
  const analysis = analyzeScene(input, context);
  if (!analysis.resolved) throw new SceneError(context.file, analysis.diagnostics);
  return analysis.resolved;
}

