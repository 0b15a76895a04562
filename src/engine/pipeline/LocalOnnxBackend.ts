// The local backend: renders a job on this machine through onnxruntime, in stages — encode the prompts
// (through the model family's text encoders), prepare latents (noise, or an encoded init image) and hints,
// denoise (scheduler over the UNet with guidance and ControlNets), decode with the VAE. Owns every cache
// that makes the next render faster: ONNX sessions, tokenizers, prompt embeddings, LoRA files and reports.
import { isAbsolute, join } from 'node:path';
import { ModelError, throwIfAborted } from '../errors';
import type { RGBImage } from '../image/rgbImage';
import { imageTensorToRGB } from '../image/rgbImage';
import { acquireComponent, type ComponentLease } from '../model/componentLease';
import { familyOf, type Conditioning, type ConditioningServices } from '../model/families';
import type { ModelConfig } from '../model/modelConfig';
import { effectiveSchedulerConfig } from '../model/modelDefaults';
import { loadTextualInversion, type TextualInversion } from '../model/textualInversion';
import { UNet } from '../model/unet';
import { VAEDecoder } from '../model/vaeDecoder';
import type { EngineOptions } from '../options';
import { ONNXRUNTIME_VERSION, providerEnvironment, type OnnxSession, type OnnxSessionOptions } from '../onnx/onnxSession';
import { selectExecutionProvider, type ProviderSelection } from '../onnx/executionProviders';
import { validateFamilyKeys } from '../backends/remoteFamilies';
import { OptimizedModelCache } from '../onnx/optimizedModelCache';
import { precisionPatch } from '../onnx/precision';
import { composePatches, SessionCache, type WeightPatch } from '../onnx/sessionCache';
import { floatTensor } from '../onnx/tensor';
import type { BackendRender, BackendRenderOptions, RenderBackend } from '../render/RenderBackend';
import type { RenderJob } from '../render/renderJob';
import { TorchCPUGenerator } from '../rng';
import { createScheduler, type Scheduler } from '../schedulers';
import { numberOption, type Recipe } from '../scene';
import { loadCLIPTokenizer, type CLIPTokenizer } from '../tokenizer';
import { denoise } from './denoise';
import { memo } from './memo';
import { declaresGuidanceEmbedding, unetGuidanceEmbedding } from './guidanceEmbedding';
import { activationBytes } from './memoryEstimate';
import { prepareInpaint } from './inpaintStage';
import { prepareHints, prepareLatents } from './latentStage';
import { LoraStage, loraWarnings } from './LoraStage';
import { PreviewStage } from './PreviewStage';
import { StageTimings } from '../render/StageTimings';
import { allFinite, divided } from './tensorMath';

/** The optimized-graph cache's folder inside EngineOptions.cacheDir, and its disk budget (a full SD 1.5 UNet entry is 3.4 GB). */
const OPTIMIZED_CACHE_FOLDER = 'optimized';
const OPTIMIZED_CACHE_BUDGET_BYTES = 8 * 1024 ** 3;
const PROMPT_CACHE_CAPACITY = 64;
const EMBEDDING_CACHE_CAPACITY = 32;

export class LocalOnnxBackend implements RenderBackend {
  readonly name = 'local-onnx';
  /** onnxruntime's version, with the device when not the CPU (`1.30.0+cuda`): pixels are per device. */
  readonly runtimeVersion: string;
  /** The execution provider chosen for this machine, and why a requested GPU one is not used. */
  readonly providers: ProviderSelection;
  readonly sessions: SessionCache;
  private readonly sessionOptions: OnnxSessionOptions;
  private readonly tokenizers = new Map<string, Promise<CLIPTokenizer>>();
  /** Textual-inversion embeddings by path, content hash and encoder width. */
  private readonly inversions = new Map<string, Promise<TextualInversion>>();
  /** Prompt encodings by encoder weights and text, least recently used first. */
  private readonly prompts = new Map<string, Promise<Conditioning>>();
  private readonly loras = new LoraStage();
  private readonly previews = new PreviewStage();

  constructor(options: EngineOptions = {}) {
    this.sessions = new SessionCache({ budgetBytes: options.sessionBudgetBytes, memoryLimitBytes: options.memoryLimitBytes });
    this.providers = selectExecutionProvider(options.executionProvider ?? 'cpu', providerEnvironment());
    this.runtimeVersion = this.providers.device === 'cpu' ? ONNXRUNTIME_VERSION : `${ONNXRUNTIME_VERSION}+${this.providers.device}`;
    this.sessionOptions = {
      executionProviders: this.providers.providers,
      intraOpNumThreads: options.threads,
      graphOptimizationLevel: 'all',
      deterministic: true,
      ...(options.cacheDir ? { optimizedCacheDir: join(options.cacheDir, OPTIMIZED_CACHE_FOLDER) } : {}),
    };
    if (options.cacheDir) {
      // Keep the optimized graphs within budget (most recently used first); never fails a start.
      void new OptimizedModelCache(join(options.cacheDir, OPTIMIZED_CACHE_FOLDER)).prune({ maxBytes: OPTIMIZED_CACHE_BUDGET_BYTES }).catch(() => undefined);
    }
  }

  async render(job: RenderJob, options: BackendRenderOptions = {}): Promise<BackendRender> {
    const { signal, onProgress } = options;
    const { recipe, model } = job;
    const family = familyOf(model);
    const timings = new StageTimings();
    // Flow-model keys have no meaning for the Stable Diffusion families this engine runs: refuse, not ignore.
    validateFamilyKeys('sd', { shift: numberOption(recipe.options, 'shift'), distilledGuidance: numberOption(recipe.options, 'distilled_guidance') });
    const warnings: string[] = this.providers.fallback ? [this.providers.fallback] : [];
    // Every lease taken during the render, settled or not, is released when it ends, however it ends.
    const leases: Promise<ComponentLease<unknown>>[] = [];
    const acquire = async <T>(component: string, Type: new (session: OnnxSession) => T, patch?: WeightPatch): Promise<T> => {
      const lease = timings.time('load', () => acquireComponent(this.sessions, isAbsolute(component) ? component : join(model.dir, component), Type, { options: this.sessionOptions, signal, patch }));
      leases.push(lease as Promise<ComponentLease<unknown>>);
      return (await lease).component;
    };
    try {
      // A guidance-distilled UNet (LCM, time_cond_proj_dim) takes the guidance as an embedding and runs
      // on the prompt alone; its graph has the last word once loaded (timestep_cond).
      const classifierFree = recipe.guidance > 1 && !declaresGuidanceEmbedding(model);
      // Refuse a size this machine cannot hold before any weights or buffers are allocated.
      const batch = classifierFree ? 2 : 1;
      this.sessions.checkFreeMemory(activationBytes(model, recipe.width, recipe.height, batch), `a ${recipe.width}x${recipe.height} render's activations`, model.dir);
      onProgress?.({ phase: 'load', step: 0, total: recipe.steps });
      const loraUses = await timings.time('load', () => this.loras.open(job, signal));
      const loraReports = await timings.time('load', () => this.loras.report(job, loraUses, signal));
      warnings.push(...loraWarnings(loraReports));
      const patches = new Map(family.textEncoders.map((c) => [c, this.loras.patch(c as 'text_encoder', loraUses, timings)]));
      // The precision variant applies to the UNet (where the time goes), after any LoRA is merged.
      const unetPatch = composePatches(this.loras.patch('unet', loraUses, timings), precisionPatch(recipe.precision));
      // The UNet and VAE load while the prompts are encoded.
      const unetPending = acquire('unet', UNet, unetPatch);
      const vaePending = acquire('vae_decoder', VAEDecoder);
      unetPending.catch(() => undefined);
      vaePending.catch(() => undefined);

      onProgress?.({ phase: 'encode', step: 0, total: recipe.steps });
      // Embedding files are read once per content: the recipe already hashed each one.
      const embeddingHashes = new Map((recipe.embeddings ?? []).map((e, i) => [e.path, job.metadata.embeddings?.[i]?.hash]));
      const services = this.conditioningServices(acquire, patches, embeddingHashes, timings, signal);
      const cond = await family.encodePrompt(recipe.prompt, recipe, model, services);
      if (cond.droppedText) warnings.push(`prompt truncated to ${cond.maxLength} tokens; dropped: "${cond.droppedText}"`);
      const encodeNegative = async (): Promise<Conditioning> => {
        const encoded = await family.encodePrompt(recipe.negative, { ...recipe, role: 'negative' }, model, services);
        if (encoded.droppedText) warnings.push(`negative prompt truncated to ${encoded.maxLength} tokens; dropped: "${encoded.droppedText}"`);
        return encoded;
      };
      let uncond = classifierFree ? await encodeNegative() : undefined;
      const [unet, vaeDecoder] = await Promise.all([unetPending, vaePending]);
      const timestepCond = unetGuidanceEmbedding(unet, model, recipe.guidance);
      if (timestepCond) {
        uncond = undefined;
        if (recipe.negative !== '') warnings.push('this UNet is guidance-distilled (LCM: guidance is an input, not a second branch), so the negative prompt is not used');
      } else if (recipe.guidance > 1 && !uncond) {
        uncond = await encodeNegative();
      }

      const scheduler = this.scheduler(model, recipe);
      const latentDims = family.latentDims(model, recipe.width, recipe.height);
      const rng = new TorchCPUGenerator(BigInt(recipe.seed));
      const start = await prepareLatents({ job, family, scheduler, rng, latentDims, acquire, timings, signal });
      const inpaint = await prepareInpaint({ job, family, rng, latentDims, acquire, timings, signal, image: start.image });
      const { hints, controls } = await prepareHints(job, acquire, timings, signal);

      const previewer = options.previews && onProgress ? await this.previews.begin(model, family, acquire, warnings) : undefined;
      const final = await denoise({
        controls,
        unet,
        scheduler,
        rng,
        latents: start.latents,
        cond: cond.hiddenStates,
        uncond: uncond?.hiddenStates,
        extra: cond.extra,
        uncondExtra: uncond?.extra,
        guidance: recipe.guidance,
        timestepCond,
        guidanceRescale: numberOption(recipe.options, 'guidance_rescale'),
        startIndex: start.startIndex,
        inpaint,
        timings,
        signal,
        onStep: async ({ step, total, predOriginal, latents }) => {
          options.onStepLatents?.(step, latents);
          if (!onProgress) return;
          if (!previewer) return onProgress({ phase: 'denoise', step, total });
          const began = performance.now();
          const preview: RGBImage = await previewer(predOriginal, latentDims, signal);
          timings.add('preview', performance.now() - began);
          onProgress({ phase: 'denoise', step, total, preview });
        },
      });
      if (!allFinite(final.data)) {
        throw new ModelError('the denoising loop produced NaN or infinite latents: the UNet or its weights are broken (with precision: fp16 or bf16, try fp32)', join(model.dir, 'unet'));
      }

      onProgress?.({ phase: 'decode', step: recipe.steps, total: recipe.steps });
      throwIfAborted(signal);
      const before = vaeDecoder.session.runTimeMs;
      const decoded = await timings.time('vaeDecoder', () => vaeDecoder.decode(floatTensor(divided(final.data, family.latentScale(model)), latentDims), signal));
      timings.addOnnxRuntime(vaeDecoder.session.runTimeMs - before);
      if (!allFinite(decoded.data)) {
        // SDXL's VAE overflows in float16 (its config says force_upcast; diffusers decodes in float32).
        const fix = family.id === 'sdxl' ? ", or SDXL's fp16-fix VAE (madebyollin/sdxl-vae-fp16-fix, finetuned to stay finite in float16)" : '';
        throw new ModelError(`the VAE decoder produced NaN or infinite pixels (a known failure of half-precision VAEs): use a float32 VAE export${fix}`, join(model.dir, 'vae_decoder'));
      }
      this.previews.learn(model, final, decoded);
      const image = imageTensorToRGB(decoded);
      throwIfAborted(signal);
      return { image, hints, loras: loraReports, warnings, timings: timings.report() };
    } finally {
      for (const settled of await Promise.allSettled(leases)) if (settled.status === 'fulfilled') settled.value.release();
    }
  }

  /** Drops cached prompt embeddings (the next render re-encodes its prompts). */
  forgetPrompts(): void {
    this.prompts.clear();
  }

  async dispose(): Promise<void> {
    await this.sessions.clear();
    this.prompts.clear();
  }

  private conditioningServices(
    acquire: ConditioningServices['acquire'],
    patches: ReadonlyMap<string, WeightPatch | undefined>,
    embeddingHashes: ReadonlyMap<string, string | undefined>,
    timings: StageTimings,
    signal?: AbortSignal,
  ): ConditioningServices {
    return {
      acquire,
      signal,
      patchFor: (component) => patches.get(component),
      tokenizer: (folder) => memo(this.tokenizers, folder, () => loadCLIPTokenizer(folder)),
      textualInversion: (path, width, tensor) => {
        const hash = embeddingHashes.get(path);
        // Without a content hash (never from a planned job) nothing vouches for a cached copy: read it.
        if (hash === undefined) return loadTextualInversion(path, width, tensor);
        while (this.inversions.size >= EMBEDDING_CACHE_CAPACITY) this.inversions.delete(this.inversions.keys().next().value as string);
        return memo(this.inversions, `${path}\0${hash}\0${width}\0${tensor ?? ''}`, () => loadTextualInversion(path, width, tensor));
      },
      cached: (key, encode) => {
        let pending = this.prompts.get(key);
        if (pending) {
          this.prompts.delete(key); // most recently used goes last
        } else {
          pending = encode();
          pending.catch(() => this.prompts.delete(key));
        }
        this.prompts.set(key, pending);
        while (this.prompts.size > PROMPT_CACHE_CAPACITY) this.prompts.delete(this.prompts.keys().next().value as string);
        return pending;
      },
      timed: async (stage, work, session) => {
        const before = session?.runTimeMs ?? 0;
        const result = await timings.time(stage, work);
        if (session) timings.addOnnxRuntime(session.runTimeMs - before);
        return result;
      },
    };
  }

  private scheduler(model: ModelConfig, recipe: Recipe): Scheduler {
    return createScheduler(recipe.sampler, recipe.schedule, effectiveSchedulerConfig(model), recipe.steps);
  }
}
