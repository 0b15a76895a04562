// A render job: one PNG to produce, a resolved recipe with its content-hashed identity and the portable
// recipe that goes into the PNG. Made from a resolved scene by hashing the model folder, LoRAs, images,
// ControlNets and embeddings it uses; the hash is what freshness compares.
import { relative, sep } from 'node:path';
import { ModelError, throwIfAborted } from '../errors';
import type { FileHashCache } from '../hash/fileHashCache';
import { hashModelFolder } from '../hash/modelHash';
import { controlNetDir, type ModelConfig } from '../model/modelConfig';
import { PRECISION_TRANSFORM_VERSION } from '../onnx/precision';
import { TorchCPUGenerator } from '../rng';
import { recipeHash, tuningOptionsForRecipe, type Recipe, type ResolvedScene } from '../scene';
import { ENGINE_VERSION } from '../version';
import type { RemoteProvenance } from './RenderBackend';
import { WATERMARK_ALGORITHM, payloadOfHash } from '../watermark/watermarkCode';
import type { LabelCorner } from '../watermark/visibleLabel';

/** What goes into the PNG's `imgprompt` chunk: the recipe without machine-specific absolute paths. */
export interface PortableRecipe {
  readonly format: string;
  readonly scene: string;
  readonly model: { readonly name: string; readonly hash: string; readonly shortHash: string };
  readonly prompt: string;
  readonly negative: string;
  readonly seed: string;
  readonly width: number;
  readonly height: number;
  readonly sampler: string;
  readonly schedule: string;
  readonly steps: number;
  readonly guidance: number;
  readonly rng: string;
  /** The UNet's weight precision; absent for fp32 (as exported). */
  readonly precision?: string;
  /** Tuning options (sceneOptions.ts) that differ from their defaults; absent when none do. */
  readonly options?: Readonly<Record<string, number | string | boolean>>;
  readonly loras: readonly { readonly file: string; readonly weight: number; readonly hash: string }[];
  readonly control: readonly {
    readonly type: string;
    readonly image: string;
    readonly strength: number;
    readonly start: number;
    readonly end: number;
    readonly hash: string;
    /** The ControlNet that read the hint: its folder inside the model folder (or the scene's reference to it) and content hash. */
    readonly net: { readonly folder: string; readonly hash: string };
  }[];
  readonly init: { readonly image: string; readonly strength: number; readonly hash: string } | null;
  /** Textual-inversion embeddings the prompts use; absent when none. */
  readonly embeddings?: readonly { readonly name: string; readonly file: string; readonly hash: string }[];
  readonly purpose: string | null;
  /** The visible label burned into the pixels; absent when none. */
  readonly label?: { readonly text: string; readonly corner: LabelCorner; readonly size: number; readonly opacity: number };
  /** Who the figure is for; absent in figures made before the key existed. */
  readonly audience?: string;
  /** The model's licence as the scene states it (`license:`); absent when the scene says none. */
  readonly license?: string;
  /** The invisible watermark in the pixels: its algorithm and payload (the hash's first 32 bits); absent when off. */
  readonly watermark?: { readonly algorithm: string; readonly payload: string };
  readonly hash: string;
  readonly engine: { readonly version: string; readonly onnxruntime: string };
  /** Present when a render server made the pixels (see RemoteProvenance). */
  readonly backend?: RemoteProvenance;
}

/** One PNG to produce: a resolved recipe with its content-hashed identity. */
export interface RenderJob {
  readonly recipe: Recipe;
  readonly model: ModelConfig;
  /** The recipe hash including content hashes of the model, LoRAs, ControlNets and images. */
  readonly hash: string;
  readonly metadata: PortableRecipe;
  /** Absolute path of the PNG. */
  readonly output: string;
  /** The ControlNet folder of each `control:` entry, absolute. */
  readonly controlNets?: readonly string[];
}

/** Relative POSIX path for provenance; never an absolute path of this machine. */
function portablePath(root: string, path: string): string {
  return relative(root, path).split(sep).join('/');
}

/**
 * The jobs of a resolved scene (its main output, then one per variant seed), each with the content
 * hashes of the model, LoRAs and images folded into its identity. `projectRoot` makes paths portable;
 * `runtimeVersion` is recorded (not hashed) as the runtime that rendered it.
 */
export async function jobsForScene(
  resolved: ResolvedScene,
  projectRoot: string,
  hashes: FileHashCache,
  runtimeVersion: string,
  signal?: AbortSignal,
): Promise<RenderJob[]> {
  const { recipe, model } = resolved;
  const modelHash = await hashModelFolder(recipe.model.path, hashes, signal);
  const content: Record<string, string> = { [recipe.model.path]: `sha256:${modelHash.sha256}` };
  const files = [...recipe.loras, ...recipe.control, ...(recipe.init ? [recipe.init] : []), ...(recipe.init?.mask ? [recipe.init.mask] : []), ...(recipe.embeddings ?? [])];
  for (const file of files) {
    throwIfAborted(signal);
    content[file.path] = `sha256:${await hashes.hash(file.path, signal)}`;
  }
  const controlNets: string[] = [];
  const extra: Record<string, string> = {};
  const netNames: string[] = [];
  for (const c of recipe.control) {
    const dir = c.net?.path ?? controlNetDir(model, c.type);
    if (!dir) {
      throw new ModelError(
        `the model has no ControlNet for '${c.type}' hints: declare one in model_index.json ("imgprompt": {"controlnets": {"${c.type}": "controlnet/${c.type}"}}) or put it in controlnet/${c.type}/`,
        model.dir,
      );
    }
    controlNets.push(dir);
    // A ControlNet the scene names is recorded by its reference (a hub key or project path), never by
    // where this machine keeps it.
    const name = c.net?.ref ?? portablePath(model.dir, dir);
    netNames.push(name);
    if (content[dir] === undefined) content[dir] = `sha256:${(await hashModelFolder(dir, hashes, signal)).sha256}`;
    extra[`controlnet:${name}`] = content[dir];
  }
  await hashes.save();
  return [recipe, ...resolved.variants].map((r) => {
    // A precision variant's pixels depend on how its weights are transformed: a changed transform makes
    // its figures stale (fp32 is untransformed, so its hashes never change this way).
    const precisionExtra: Record<string, string> = r.precision === 'fp32' ? {} : { precisionTransform: String(PRECISION_TRANSFORM_VERSION) };
    // The watermark changes the pixels, so its algorithm is part of the identity (`watermark: off` is, as a
    // non-default option); its payload is derived from the hash, so it cannot enter it.
    const watermarked = r.options.watermark !== 'off';
    const watermarkExtra: Record<string, string> = watermarked ? { watermark: WATERMARK_ALGORITHM } : {};
    const hash = recipeHash(r, { contentHashes: content, extra: { ...extra, ...precisionExtra, ...watermarkExtra } });
    const metadata: PortableRecipe = {
      format: r.format,
      scene: portablePath(projectRoot, r.scene),
      model: { name: r.model.ref, hash: content[r.model.path], shortHash: modelHash.shortHash },
      prompt: r.prompt,
      negative: r.negative,
      seed: r.seed,
      width: r.width,
      height: r.height,
      sampler: r.sampler,
      schedule: r.schedule,
      steps: r.steps,
      guidance: r.guidance,
      rng: TorchCPUGenerator.NAME,
      precision: r.precision === 'fp32' ? undefined : r.precision,
      options: tuningOptionsForRecipe(r.options),
      loras: r.loras.map((l) => ({ file: l.ref, weight: l.weight, hash: content[l.path] })),
      control: r.control.map((c, i) => ({
        type: c.type,
        image: c.ref,
        strength: c.strength,
        start: c.start,
        end: c.end,
        hash: content[c.path],
        net: { folder: netNames[i], hash: content[controlNets[i]] },
      })),
      init: r.init && { image: r.init.ref, strength: r.init.strength, hash: content[r.init.path] },
      embeddings: r.embeddings?.map((e) => ({ name: e.name, file: e.ref, hash: content[e.path] })),
      purpose: r.purpose,
      label: r.label,
      audience: r.audience,
      license: r.license,
      watermark: watermarked ? { algorithm: WATERMARK_ALGORITHM, payload: payloadOfHash(hash) } : undefined,
      hash,
      engine: { version: ENGINE_VERSION, onnxruntime: runtimeVersion },
    };
    return { recipe: r, model, hash, metadata, output: r.output, controlNets };
  });
}
