// What differs between model families (SD 1.x/2.x today; SDXL and others next), behind one interface so
// the staged pipeline never branches on the family: which text encoders a prompt goes through and what
// conditioning they produce (hidden states plus extra UNet inputs such as SDXL's `text_embeds` and
// `time_ids`), the latent layout and scale, and the linear latent→RGB map for cheap previews.
// A new family is a new file here plus its entry in families/index.ts.
import type { LatentRGBFactors } from '../../image/latentPreview';
import type { FloatTensor } from '../../onnx/tensor';
import type { WeightPatch } from '../../onnx/sessionCache';
import type { CLIPTokenizer } from '../../tokenizer';
import type { ModelConfig } from '../modelConfig';
import type { SdxlEmbeddingTensor, TextualInversion } from '../textualInversion';
import type { OnnxSession } from '../../onnx/onnxSession';

/** The size of the image being rendered, in pixels. */
export interface OutputSize {
  readonly width: number;
  readonly height: number;
}

/** A textual-inversion embedding the prompts may use (the recipe found it; see prompt/embeddingNames.ts). */
export interface EmbeddingFile {
  /** What follows `embedding:` in the prompt. */
  readonly name: string;
  /** Also matched as a bare word (the files of the model's embeddings folder, as A1111 does). */
  readonly byName: boolean;
  /** Absolute path of the `.safetensors` file. */
  readonly path: string;
}

/**
 * What an encoding depends on beyond the text: the output size (SDXL conditions on it), the recipe's
 * tuning options by scene key (`clip_skip`; options left out are at their defaults) and the
 * textual-inversion embeddings it found.
 */
export interface EncodeContext extends OutputSize {
  readonly options?: Readonly<Partial<Record<string, number | string>>>;
  /** Which prompt this is: SDXL zeros an empty negative prompt and sends `prompt_2` to the positive only. */
  readonly role?: 'prompt' | 'negative';
  readonly embeddings?: readonly EmbeddingFile[];
}

/** The conditioning of one prompt: what the UNet reads beside the latents. */
export interface Conditioning {
  /** Text hidden states [1, sequence, width]. */
  readonly hiddenStates: FloatTensor;
  /** Further UNet inputs by graph name (SDXL: `text_embeds`, `time_ids`); empty for SD 1.x/2.x. */
  readonly extra: Readonly<Record<string, FloatTensor>>;
  /** Set when the prompt was longer than the tokenizer's context: the text that was cut. */
  readonly droppedText?: string;
  /** The tokenizer's context length (for the truncation warning). */
  readonly maxLength: number;
}

/** What a family needs from the pipeline to encode prompts: typed components, tokenizers, a cache. */
export interface ConditioningServices {
  acquire<T>(component: string, Type: new (session: OnnxSession) => T, patch?: WeightPatch): Promise<T>;
  tokenizer(folder: string): Promise<CLIPTokenizer>;
  /** A textual-inversion embedding file, read (and checked for `width`) once per content; `tensor` picks one of an SDXL file's two. */
  textualInversion(path: string, width: number | undefined, tensor?: SdxlEmbeddingTensor): Promise<TextualInversion>;
  /** The weight patch (LoRAs) for a text-encoder component, if any. */
  patchFor(component: string): WeightPatch | undefined;
  /** Caches an encoding under a key that names the encoder's weights and the text. */
  cached(key: string, encode: () => Promise<Conditioning>): Promise<Conditioning>;
  readonly signal?: AbortSignal;
  /** Times a stage and records onnxruntime's share of it. */
  timed<T>(stage: 'tokenize' | 'textEncoder', work: () => Promise<T>, session?: OnnxSession): Promise<T>;
}

export interface ModelFamily {
  /** A stable id for logs and errors, e.g. `sd1` (SD 1.x and 2.x share one pipeline). */
  readonly id: string;
  /** Human-readable, e.g. `Stable Diffusion 1.x/2.x`. */
  readonly label: string;
  /** Whether this family runs `model` (by its components and configs). */
  matches(model: ModelConfig): boolean;
  /** The text-encoder components a LoRA may patch (`text_encoder`, `text_encoder_2`). */
  readonly textEncoders: readonly string[];
  /**
   * Encodes one prompt (the positive or the negative), with A1111's emphasis syntax, for an output of
   * `context`'s size and with its tuning options.
   */
  encodePrompt(text: string, context: EncodeContext, model: ModelConfig, services: ConditioningServices): Promise<Conditioning>;
  /** Latent dims [1, C, h, w] for an output of the recipe's size. */
  latentDims(model: ModelConfig, width: number, height: number): number[];
  /** The factor between VAE latents and the UNet's latent space. */
  latentScale(model: ModelConfig): number;
  /** A first guess at the linear latent→RGB map, until one is fitted to a real decode. */
  readonly previewFactors: LatentRGBFactors;
}
