// The engine's front door: turns resolved scenes into render jobs (recipe + content-hashed identity),
// tells whether an output is up to date, and renders a job to pixels and a PNG with provenance. One
// Engine is long-lived per process (CLI run, extension worker) and owns every cache: ONNX sessions,
// tokenizers, prompt embeddings and file hashes.
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join, relative, sep } from 'node:path';
import { CancelledError, ModelError, throwIfAborted } from '../errors';
import { FileHashCache } from '../hash/fileHashCache';
import { hashModelFolder } from '../hash/modelHash';
import { latentToPreviewRGB, fitLatentRGBFactors, SD15_LATENT_RGB_FACTORS, type LatentRGBFactors } from '../image/latentPreview';
import { loadImageTensor } from '../image/loadImage';
import { imageTensorToRGB, type RGBImage } from '../image/rgbImage';
import { readImageMetadata } from '../interop/readImageMetadata';
import { ControlNet } from '../control/controlNet';
import { loadHint } from '../control/hint';
import { loadLora, loraWeightPatch, planLoras, type HashedLoraUse, type LoraComponent, type LoraFile } from '../lora/index';
import { CLIPTextEncoder } from '../model/clipTextEncoder';
import { acquireComponent, type ComponentLease } from '../model/componentLease';
import { controlNetDir, type ModelConfig } from '../model/modelConfig';
import { ONNXRUNTIME_VERSION, type OnnxSessionOptions } from '../onnx/onnxSession';
import { componentModelPath, readOnnxModelFiles } from '../onnx/onnxModelFiles';
import type { OnnxModelInfo } from '../onnx/onnxProto';
import { OptimizedModelCache } from '../onnx/optimizedModelCache';
import { composePatches, SessionCache, type WeightPatch } from '../onnx/sessionCache';
import { precisionPatch } from '../onnx/precision';
import { floatTensor, type FloatTensor } from '../onnx/tensor';
import { UNet } from '../model/unet';
import { PREVIEW_DECODER_FOLDER, PreviewDecoder, readPreviewDecoderConfig, type PreviewDecoderConfig } from '../model/previewDecoder';
import { VAEDecoder } from '../model/vaeDecoder';
import { VAEEncoder } from '../model/vaeEncoder';
import { encodePixelsToPng, encodePngWithMetadata } from '../output/encodePng';
import { hintOutputPath } from '../output/hintOutputPath';
import { writeFileAtomic } from '../output/writeFileAtomic';
import { TorchCPUGenerator } from '../rng';
import { createScheduler, img2imgStartIndex, parseSchedulerConfig, type Scheduler } from '../schedulers';
import { recipeHash, type Recipe, type ResolvedScene } from '../scene';
import { loadCLIPTokenizer, type CLIPTokenizer } from '../tokenizer';
import { ENGINE_VERSION } from '../version';
import { denoise, type DenoiseControl } from './denoise';
import { recipeChanges, type RecipeChange } from './recipeChanges';
import { encodePrompt, PromptEmbeddingCache } from './PromptEncoder';
import { StageTimings, type StageTimingReport } from './StageTimings';
import { allFinite, divided, scaled } from './tensorMath';

export interface EngineOptions {
  /** onnxruntime intra-op threads (default: physical cores). Part of the session cache key. */
  readonly threads?: number;
  /** Memory budget for cached sessions, in bytes (estimated from model file sizes). */
  readonly sessionBudgetBytes?: number;
  /** Folder for the persistent file-hash cache; in-memory only when absent. */
  readonly cacheDir?: string;
  /**
   * The most memory loaded models may take, in bytes. A load that would not fit (in this limit or in
   * the memory the OS reports available) fails with a ModelError saying what it needs.
   */
  readonly memoryLimitBytes?: number;
}

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
  readonly loras: readonly { readonly file: string; readonly weight: number; readonly hash: string }[];
  readonly control: readonly {
    readonly type: string;
    readonly image: string;
    readonly strength: number;
    readonly start: number;
    readonly end: number;
    readonly hash: string;
    /** The ControlNet that read the hint: its folder inside the model folder and content hash. */
    readonly net: { readonly folder: string; readonly hash: string };
  }[];
  readonly init: { readonly image: string; readonly strength: number; readonly hash: string } | null;
  readonly purpose: string | null;
  readonly hash: string;
  readonly engine: { readonly version: string; readonly onnxruntime: string };
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
}

export type OutputState = 'up-to-date' | 'stale' | 'missing';

export interface OutputStatus {
  readonly state: OutputState;
  /** The hash stored in the existing PNG, if it has one. */
  readonly storedHash?: string;
  /** For a stale output: the pixel-affecting fields that differ from the recipe stored in the PNG. */
  readonly changes?: readonly RecipeChange[];
}

export interface RenderProgress {
  readonly phase: 'load' | 'encode' | 'denoise' | 'decode' | 'write';
  /** Denoising step (1-based) and total; 0/total outside the denoise phase. */
  readonly step: number;
  readonly total: number;
  /** A cheap preview decoded linearly from the latents (latent resolution), when asked for. */
  readonly preview?: RGBImage;
}

export interface RenderOptions {
  readonly signal?: AbortSignal;
  readonly onProgress?: (progress: RenderProgress) => void;
  /** Emit a preview image with every denoising step (costs a few microseconds at latent size). */
  readonly previews?: boolean;
  /** Receives the latents after each denoising step (for checking trajectories against a reference). */
  readonly onStepLatents?: (step: number, latents: Float32Array) => void;
  /** renderToFile also writes each preprocessed hint beside the output (`figure.hint-1.png`). */
  readonly saveHints?: boolean;
}

/** A hint image as the ControlNet saw it (after preprocessing, at the output size). */
export interface PreparedHint {
  readonly type: string;
  readonly image: RGBImage;
}

/** How a scene's LoRA met the model: modules merged into a weight, and those that found none. */
export interface LoraReport {
  /** The LoRA as the scene names it (project-relative). */
  readonly file: string;
  readonly weight: number;
  readonly matched: number;
  readonly total: number;
  /** Module keys (as the file spells them) that match no weight of the model. */
  readonly unmatched: readonly string[];
  /** Tensors of adapter kinds the engine does not apply (LoHa, LoKr, DoRA scales...). */
  readonly unsupported: readonly string[];
}

export interface RenderResult {
  readonly job: RenderJob;
  readonly loras: readonly LoraReport[];
  readonly image: RGBImage;
  readonly png: Buffer;
  readonly timings: StageTimingReport;
  /** Non-fatal problems, e.g. a prompt truncated to the tokenizer's context. */
  readonly warnings: readonly string[];
  /** The preprocessed hints, one per `control:` entry. */
  readonly hints: readonly PreparedHint[];
}


/** Relative POSIX path for provenance; never an absolute path of this machine. */
function portablePath(root: string, path: string): string {
  const rel = relative(root, path);
  return rel.split(sep).join('/');
}

/** The optimized-graph cache's folder inside EngineOptions.cacheDir, and its disk budget (a full SD 1.5 UNet entry is 3.4 GB). */
const OPTIMIZED_CACHE_FOLDER = 'optimized';
const OPTIMIZED_CACHE_BUDGET_BYTES = 8 * 1024 ** 3;

export class Engine {
  private readonly tokenizers = new Map<string, Promise<CLIPTokenizer>>();
  private readonly promptCache = new PromptEmbeddingCache();
  private readonly previewFactors = new Map<string, LatentRGBFactors>();
  private readonly sessionOptions: OnnxSessionOptions;
  /** Opened LoRA files by path and content hash. */
  private readonly loraFiles = new Map<string, Promise<LoraFile>>();
  /** Match reports by model folder and LoRA content hash (weight-independent). */
  private readonly loraReports = new Map<string, Omit<LoraReport, 'file' | 'weight'>>();
  /** Graph structure (no weights) of components, for LoRA matching, by model.onnx path. */
  private readonly graphInfos = new Map<string, Promise<OnnxModelInfo>>();
  /** Preview decoder configs by folder; undefined when the model ships none. */
  private readonly previewConfigs = new Map<string, Promise<PreviewDecoderConfig | undefined>>();

  private constructor(
    readonly sessions: SessionCache,
    readonly hashes: FileHashCache,
    options: EngineOptions,
  ) {
    this.sessionOptions = {
      intraOpNumThreads: options.threads,
      graphOptimizationLevel: 'all',
      deterministic: true,
      ...(options.cacheDir ? { optimizedCacheDir: join(options.cacheDir, OPTIMIZED_CACHE_FOLDER) } : {}),
    };
  }

  static async create(options: EngineOptions = {}): Promise<Engine> {
    const sessions = new SessionCache({ budgetBytes: options.sessionBudgetBytes, memoryLimitBytes: options.memoryLimitBytes });
    const hashes = await FileHashCache.open(options.cacheDir);
    if (options.cacheDir) {
      // Keep the optimized graphs within budget (most recently used first); never fails a start.
      void new OptimizedModelCache(join(options.cacheDir, OPTIMIZED_CACHE_FOLDER)).prune({ maxBytes: OPTIMIZED_CACHE_BUDGET_BYTES }).catch(() => undefined);
    }
    return new Engine(sessions, hashes, options);
  }

  /**
   * The jobs of a resolved scene (its main output, then one per variant seed), each with the content
   * hashes of the model, LoRAs and images folded into its identity. `projectRoot` makes paths portable.
   */
  async plan(resolved: ResolvedScene, projectRoot: string, signal?: AbortSignal): Promise<RenderJob[]> {
    const { recipe, model } = resolved;
    const modelHash = await hashModelFolder(recipe.model.path, this.hashes, signal);
    const content: Record<string, string> = { [recipe.model.path]: `sha256:${modelHash.sha256}` };
    const files = [...recipe.loras, ...recipe.control, ...(recipe.init ? [recipe.init] : [])];
    for (const file of files) {
      throwIfAborted(signal);
      content[file.path] = `sha256:${await this.hashes.hash(file.path, signal)}`;
    }
    const controlNets: string[] = [];
    const extra: Record<string, string> = {};
    for (const c of recipe.control) {
      const dir = controlNetDir(model, c.type);
      if (!dir) {
        throw new ModelError(
          `the model has no ControlNet for '${c.type}' hints: declare one in model_index.json ("imgprompt": {"controlnets": {"${c.type}": "controlnet/${c.type}"}}) or put it in controlnet/${c.type}/`,
          model.dir,
        );
      }
      controlNets.push(dir);
      if (content[dir] === undefined) content[dir] = `sha256:${(await hashModelFolder(dir, this.hashes, signal)).sha256}`;
      extra[`controlnet:${portablePath(model.dir, dir)}`] = content[dir];
    }
    await this.hashes.save();
    return [recipe, ...resolved.variants].map((r) => {
      const hash = recipeHash(r, { contentHashes: content, extra });
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
        loras: r.loras.map((l) => ({ file: l.ref, weight: l.weight, hash: content[l.path] })),
        control: r.control.map((c, i) => ({
          type: c.type,
          image: c.ref,
          strength: c.strength,
          start: c.start,
          end: c.end,
          hash: content[c.path],
          net: { folder: portablePath(model.dir, controlNets[i]), hash: content[controlNets[i]] },
        })),
        init: r.init && { image: r.init.ref, strength: r.init.strength, hash: content[r.init.path] },
        purpose: r.purpose,
        hash,
        engine: { version: ENGINE_VERSION, onnxruntime: ONNXRUNTIME_VERSION },
      };
      return { recipe: r, model, hash, metadata, output: r.output };
    });
  }

  /** Whether the job's PNG exists and carries this job's recipe hash. */
  async status(job: RenderJob): Promise<OutputStatus> {
    let bytes: Buffer;
    try {
      bytes = await readFile(job.output);
    } catch {
      return { state: 'missing' };
    }
    let stored: Record<string, unknown> | undefined;
    try {
      stored = readImageMetadata(bytes, job.output).recipe;
    } catch {
      return { state: 'stale' };
    }
    const storedHash = typeof stored?.hash === 'string' ? stored.hash : undefined;
    if (!stored || storedHash === undefined) return { state: 'stale' };
    if (storedHash === job.hash) return { state: 'up-to-date', storedHash };
    return { state: 'stale', storedHash, changes: recipeChanges(stored, job.metadata) };
  }

  /** Renders a job in memory: pixels and the PNG bytes with provenance. Nothing is written. */
  async render(job: RenderJob, options: RenderOptions = {}): Promise<RenderResult> {
    const { signal, onProgress } = options;
    const { recipe, model } = job;
    const timings = new StageTimings();
    const warnings: string[] = [];
    const leases: ComponentLease<unknown>[] = [];
    const acquire = async <T>(component: string, Type: new (...args: never[]) => T, patch?: WeightPatch): Promise<T> => {
      const lease = await acquireComponent(this.sessions, join(model.dir, component), Type as never, { options: this.sessionOptions, signal, patch });
      leases.push(lease as ComponentLease<unknown>);
      return lease.component as T;
    };
    try {
      onProgress?.({ phase: 'load', step: 0, total: recipe.steps });
      const loraUses = await timings.time('load', () => this.openLoras(job, signal));
      const loras = await timings.time('load', () => this.loraReport(job, loraUses, signal));
      for (const r of loras) {
        if (r.matched < r.total) {
          const shown = r.unmatched.slice(0, 20).join(', ') + (r.unmatched.length > 20 ? `, … (${r.unmatched.length - 20} more)` : '');
          warnings.push(`LoRA ${r.file}: ${r.total - r.matched} of ${r.total} modules match no weight of the model and were not applied: ${shown}`);
        }
        if (r.unsupported.length > 0) warnings.push(`LoRA ${r.file}: ${r.unsupported.length} tensors of an unsupported adapter kind were not applied: ${r.unsupported.slice(0, 10).join(', ')}`);
      }
      const textEncoderPatch = this.timedPatch(loraWeightPatch('text_encoder', loraUses), timings);
      // The precision variant applies to the UNet (where the time goes), after any LoRA is merged.
      const unetPatch = composePatches(this.timedPatch(loraWeightPatch('unet', loraUses), timings), precisionPatch(recipe.precision));
      const [tokenizer, textEncoder, unet, vaeDecoder] = await timings.time('load', () =>
        Promise.all([
          this.tokenizer(model.dir),
          acquire('text_encoder', CLIPTextEncoder, textEncoderPatch),
          acquire('unet', UNet, unetPatch),
          acquire('vae_decoder', VAEDecoder),
        ]),
      );
      const scheduler = this.scheduler(model, recipe);

      onProgress?.({ phase: 'encode', step: 0, total: recipe.steps });
      // A LoRA on the text encoder changes the embeddings: cache them per patched encoder.
      const encoderKey = join(model.dir, 'text_encoder') + (textEncoderPatch ? `#${textEncoderPatch.key}` : '');
      const cond = await encodePrompt(recipe.prompt, tokenizer, textEncoder, this.promptCache, encoderKey, timings, signal);
      if (cond.droppedText) warnings.push(`prompt truncated to ${tokenizer.maxLength} tokens; dropped: "${cond.droppedText}"`);
      let uncond: FloatTensor | undefined;
      if (recipe.guidance > 1) {
        const encoded = await encodePrompt(recipe.negative, tokenizer, textEncoder, this.promptCache, encoderKey, timings, signal);
        if (encoded.droppedText) warnings.push(`negative prompt truncated to ${tokenizer.maxLength} tokens; dropped: "${encoded.droppedText}"`);
        uncond = encoded.hiddenStates;
      }

      const latentDims = [1, model.vae.latentChannels, recipe.height / model.vaeScaleFactor, recipe.width / model.vaeScaleFactor];
      const rng = new TorchCPUGenerator(BigInt(recipe.seed));
      let latents: FloatTensor;
      let startIndex = 0;
      if (recipe.init) {
        const vaeEncoder = await timings.time('load', () => acquire('vae_encoder', VAEEncoder));
        const image = await loadImageTensor(recipe.init.path, { width: recipe.width, height: recipe.height });
        const before = vaeEncoder.session.runTimeMs;
        // diffusers' img2img samples the posterior with the generator first, then draws the noise.
        const encoded = await timings.time('vaeEncoder', () =>
          vaeEncoder.encode(image, { mode: 'sample', randn: (count) => rng.randn([count]), signal }),
        );
        timings.addOnnxRuntime(vaeEncoder.session.runTimeMs - before);
        const initLatents = scaled(encoded.data, model.vae.scalingFactor);
        startIndex = img2imgStartIndex(recipe.steps, recipe.init.strength);
        if (startIndex >= recipe.steps) {
          latents = floatTensor(initLatents, latentDims);
        } else {
          const noise = rng.randn(latentDims);
          latents = floatTensor(scheduler.addNoise(initLatents, noise, startIndex), latentDims);
        }
      } else {
        latents = floatTensor(scaled(rng.randn(latentDims), scheduler.initNoiseSigma), latentDims);
      }

      const hints: PreparedHint[] = [];
      const controls: DenoiseControl[] = [];
      for (const [i, c] of recipe.control.entries()) {
        const net = await timings.time('load', () => acquire(job.metadata.control[i].net.folder, ControlNet));
        const hint = await timings.time('hint', () => loadHint(c.path, c.type, recipe.width, recipe.height, signal));
        hints.push({ type: c.type, image: { data: hint.rgb, width: hint.width, height: hint.height } });
        controls.push({ net, hint: floatTensor(hint.tensor, [1, 3, hint.height, hint.width]), scale: c.strength, start: c.start, end: c.end });
      }

      const factors = this.previewFactors.get(model.dir) ?? SD15_LATENT_RGB_FACTORS;
      // A model's tiny preview decoder (TAESD-style, preview_decoder/) makes step previews look like
      // the final image at full size for a few milliseconds; without one, the linear latent→RGB map.
      let previewDecoder = options.previews && onProgress ? await this.previewDecoder(model, acquire, timings, warnings) : undefined;
      const final = await denoise({
        controls,
        unet,
        scheduler,
        rng,
        latents,
        cond: cond.hiddenStates,
        uncond,
        guidance: recipe.guidance,
        startIndex,
        timings,
        signal,
        onStep: async ({ step, total, predOriginal, latents: stepLatents }) => {
          options.onStepLatents?.(step, stepLatents);
          if (!onProgress) return;
          if (!options.previews) {
            onProgress({ phase: 'denoise', step, total });
            return;
          }
          const start = performance.now();
          let preview: RGBImage | undefined;
          if (previewDecoder) {
            try {
              preview = await previewDecoder.decodeToRGB(floatTensor(predOriginal, latentDims), signal);
            } catch (error) {
              if (!(error instanceof ModelError)) throw error;
              warnings.push(`step previews fall back to the linear map: ${error.message}`);
              previewDecoder = undefined;
            }
          }
          preview ??= { data: latentToPreviewRGB(predOriginal, latentDims[3], latentDims[2], factors), width: latentDims[3], height: latentDims[2] };
          timings.add('preview', performance.now() - start);
          onProgress({ phase: 'denoise', step, total, preview });
        },
      });
      if (!allFinite(final.data)) {
        throw new ModelError('the denoising loop produced NaN or infinite latents (the model or its weights are broken)', join(model.dir, 'unet'));
      }

      onProgress?.({ phase: 'decode', step: recipe.steps, total: recipe.steps });
      throwIfAborted(signal);
      const before = vaeDecoder.session.runTimeMs;
      const decoded = await timings.time('vaeDecoder', () =>
        vaeDecoder.decode(floatTensor(divided(final.data, model.vae.scalingFactor), latentDims), signal),
      );
      timings.addOnnxRuntime(vaeDecoder.session.runTimeMs - before);
      if (!this.previewFactors.has(model.dir)) this.previewFactors.set(model.dir, fitLatentRGBFactors(final, decoded));
      const image = imageTensorToRGB(decoded);
      throwIfAborted(signal);
      const png = await timings.time('png', () =>
        encodePngWithMetadata({ data: image.data, width: image.width, height: image.height, channels: 3 }, job.metadata),
      );
      return { job, loras, image, png, timings: timings.report(), warnings, hints };
    } finally {
      for (const lease of leases) lease.release();
    }
  }

  /** Renders and writes the PNG atomically: a failed or cancelled render leaves the old file untouched. */
  async renderToFile(job: RenderJob, options: RenderOptions = {}): Promise<RenderResult> {
    const result = await this.render(job, options);
    options.onProgress?.({ phase: 'write', step: job.recipe.steps, total: job.recipe.steps });
    if (options.signal?.aborted) throw new CancelledError();
    const start = performance.now();
    if (options.saveHints) {
      for (const [i, hint] of result.hints.entries()) {
        const png = await encodePixelsToPng({ ...hint.image, channels: 3 });
        await writeFileAtomic(hintOutputPath(job.output, i + 1), png, { signal: options.signal });
      }
    }
    await writeFileAtomic(job.output, result.png, { signal: options.signal });
    const timings = { ...result.timings, stages: { ...result.timings.stages, write: performance.now() - start } };
    return { ...result, timings };
  }

  /** Drops cached prompt embeddings (the next render re-encodes its prompts). */
  forgetPrompts(): void {
    this.promptCache.clear();
  }

  async dispose(): Promise<void> {
    await this.sessions.clear();
    this.promptCache.clear();
  }

  /** The model's preview decoder, or undefined (none shipped, or unusable: then a warning). */
  private async previewDecoder(
    model: ModelConfig,
    acquire: <T>(component: string, Type: new (...args: never[]) => T) => Promise<T>,
    timings: StageTimings,
    warnings: string[],
  ): Promise<PreviewDecoder | undefined> {
    const dir = join(model.dir, PREVIEW_DECODER_FOLDER);
    try {
      // Whether the model has one, and its config, are read once per model folder (not per render).
      let pending = this.previewConfigs.get(dir);
      if (!pending) {
        pending = existsSync(join(dir, 'model.onnx')) ? readPreviewDecoderConfig(dir) : Promise.resolve(undefined);
        pending.catch(() => this.previewConfigs.delete(dir));
        this.previewConfigs.set(dir, pending);
      }
      const config = await pending;
      if (!config) return undefined;
      return await timings.time('load', () => acquire(PREVIEW_DECODER_FOLDER, PreviewDecoder.withConfig(config)));
    } catch (error) {
      if (!(error instanceof ModelError)) throw error;
      warnings.push(`step previews use the linear map: ${error.message}`);
      return undefined;
    }
  }

  /** Opens the job's LoRA files (cached by path and content hash; tensors stay on disk until patched). */
  private async openLoras(job: RenderJob, signal?: AbortSignal): Promise<HashedLoraUse[]> {
    const uses: HashedLoraUse[] = [];
    for (const [i, l] of job.recipe.loras.entries()) {
      const hash = job.metadata.loras[i].hash;
      const key = `${l.path}\0${hash}`;
      let pending = this.loraFiles.get(key);
      if (!pending) {
        pending = loadLora(l.path, signal);
        pending.catch(() => this.loraFiles.delete(key));
        this.loraFiles.set(key, pending);
      }
      uses.push({ lora: await pending, weight: l.weight, hash });
    }
    return uses;
  }

  /**
   * Which modules of each LoRA find a weight in the model (reads graph structure, not weights; cached).
   * Throws InputError for a LoRA whose shapes do not fit (made for another base model).
   */
  private async loraReport(job: RenderJob, uses: readonly HashedLoraUse[], signal?: AbortSignal): Promise<LoraReport[]> {
    const reports: LoraReport[] = [];
    for (const [i, use] of uses.entries()) {
      const key = `${job.model.dir}\0${use.hash}`;
      let report = this.loraReports.get(key);
      if (!report) {
        let matched = 0;
        let total = 0;
        const unmatched: string[] = [];
        for (const component of new Set(use.lora.modules.map((m) => m.component))) {
          const modules = use.lora.modules.filter((m) => m.component === component);
          const info = job.model.components.includes(component) ? await this.graphInfo(join(job.model.dir, component), signal) : undefined;
          if (!info) {
            total += modules.length;
            unmatched.push(...modules.map((m) => m.key));
            continue;
          }
          const plan = planLoras(info, component as LoraComponent, [{ lora: use.lora, weight: 1 }]);
          matched += plan.matched;
          total += plan.total;
          unmatched.push(...plan.unmatched);
        }
        report = { matched, total, unmatched, unsupported: use.lora.unsupported };
        this.loraReports.set(key, report);
      }
      reports.push({ file: job.metadata.loras[i].file, weight: use.weight, ...report });
    }
    return reports;
  }

  private graphInfo(componentDir: string, signal?: AbortSignal): Promise<OnnxModelInfo> {
    let pending = this.graphInfos.get(componentDir);
    if (!pending) {
      pending = componentModelPath(componentDir).then(async (path) => {
        throwIfAborted(signal);
        return (await readOnnxModelFiles(path)).info;
      });
      pending.catch(() => this.graphInfos.delete(componentDir));
      this.graphInfos.set(componentDir, pending);
    }
    return pending;
  }

  /** Times a patch's application (merging LoRAs happens only when the patched session is not cached). */
  private timedPatch(patch: WeightPatch | undefined, timings: StageTimings): WeightPatch | undefined {
    if (!patch) return undefined;
    return {
      key: patch.key,
      apply: async (files, signal) => {
        const start = performance.now();
        try {
          return await patch.apply(files, signal);
        } finally {
          timings.add('lora', performance.now() - start);
        }
      },
    };
  }

  private tokenizer(modelDir: string): Promise<CLIPTokenizer> {
    let pending = this.tokenizers.get(modelDir);
    if (!pending) {
      pending = loadCLIPTokenizer(join(modelDir, 'tokenizer'));
      pending.catch(() => this.tokenizers.delete(modelDir));
      this.tokenizers.set(modelDir, pending);
    }
    return pending;
  }

  private scheduler(model: ModelConfig, recipe: Recipe): Scheduler {
    const config = parseSchedulerConfig(model.scheduler.raw, join(model.dir, 'scheduler', 'scheduler_config.json'));
    return createScheduler(recipe.sampler, recipe.schedule, config, recipe.steps);
  }
}
