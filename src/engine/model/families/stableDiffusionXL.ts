// Stable Diffusion XL (base, Pony, Illustrious/NoobAI, Turbo/Lightning distillations): two CLIP text
// encoders whose penultimate hidden states (`hidden_states.{N-1}`, before the final norm) are
// concatenated on the width axis (768 + 1280 = 2048 for ViT-L + bigG), the second encoder's pooled and
// projected output (`text_embeds`) plus `time_ids` as extra UNet inputs, and the VAE's scaling 0.13025.
// Facts from diffusers' StableDiffusionXLPipeline.encode_prompt / _get_add_time_ids and optimum's SDXL
// ONNX config: time_ids = original size (h, w) + crop top-left (top, left) + target size (h, w), with the
// original and target sizes the output's and no crop for text-to-image; an absent negative prompt is all
// zeros (hidden states and text_embeds) when model_index.json's force_zeros_for_empty_prompt says so
// (diffusers' default for SDXL: true). `prompt_2` (scene option) goes to the second encoder only; without
// it both get the prompt. clip_skip N takes hidden_states[-(N+1)]: 1, the default, is SDXL's penultimate.
// The refiner (model_index.json's requires_aesthetics_score) takes five time ids: original size, crop
// top-left and an aesthetic score in place of the target size; it has only the second encoder
// (text_encoder and tokenizer [null, null] in its model_index.json), whose penultimate hidden states are
// then the whole encoder_hidden_states (1280 wide), as diffusers' StableDiffusionXLImg2ImgPipeline does.
// A1111 emphasis weights each encoder's hidden states token by token, as for SD 1.x. Textual-inversion
// embeddings for SDXL carry one tensor per encoder (`clip_l` for the first, `clip_g` for the second, as
// A1111's and ComfyUI's SDXL embedding loaders read them): each becomes rows of its own encoder's table.
import { join } from 'node:path';
import { ModelError } from '../../errors';
import { SDXL_LATENT_RGB_FACTORS } from '../../image/latentPreview';
import { floatTensor, type FloatTensor } from '../../onnx/tensor';
import { composePatches } from '../../onnx/sessionCache';
import { applyEmphasis, embeddingFragmentTokenizer, hasEmphasis, parsePromptAttention, usesEmbeddings, weightedPromptTokens, type EmbeddingTokens } from '../../prompt';
import type { CLIPTokenizer } from '../../tokenizer';
import { CLIPTextEncoder } from '../clipTextEncoder';
import type { ModelConfig } from '../modelConfig';
import { textualInversionIds, textualInversionPatch, type SdxlEmbeddingTensor } from '../textualInversion';
import type { Conditioning, ConditioningServices, EncodeContext, ModelFamily } from './ModelFamily';

/** diffusers' AutoencoderKL config for SDXL (stabilityai/sdxl-vae): used when a VAE config leaves it out. */
export const SDXL_VAE_SCALING_FACTOR = 0.13025;
const ENCODERS = [
  { component: 'text_encoder', tokenizer: 'tokenizer' },
  { component: 'text_encoder_2', tokenizer: 'tokenizer_2' },
] as const;

/** The tensor of an SDXL embedding file each encoder reads. */
const EMBEDDING_TENSORS: readonly SdxlEmbeddingTensor[] = ['clip_l', 'clip_g'];

export const stableDiffusionXL: ModelFamily = {
  id: 'sdxl',
  label: 'Stable Diffusion XL',
  textEncoders: ENCODERS.map((e) => e.component),
  previewFactors: SDXL_LATENT_RGB_FACTORS,

  matches(model: ModelConfig): boolean {
    return model.components.includes('text_encoder_2');
  },

  async encodePrompt(text, context, model, services): Promise<Conditioning> {
    const negative = context.role === 'negative';
    const prompt2 = !negative && typeof context.options?.prompt_2 === 'string' && context.options.prompt_2 !== '' ? context.options.prompt_2 : text;
    const zeroed = negative && text.trim() === '' && (model.forceZerosForEmptyPrompt ?? true);
    const fromEnd = clipSkipOf(context) + 1;
    // The refiner runs only the second encoder: `prompt_2` (or the prompt) goes to it.
    const encoders = model.components.includes('text_encoder') ? ENCODERS : ENCODERS.slice(1);
    const texts = encoders.length === 2 ? [text, prompt2] : [prompt2];
    // Per encoder: the embeddings its text uses, their vectors from the file's tensor for that encoder.
    // The second encoder's width is checked against its token table when the table is extended.
    const vocabSize = model.textEncoder.vocabSize;
    const used = encoders.map((_, i) => (context.embeddings ?? []).filter((e) => usesEmbeddings(texts[i], [e])));
    const inversions = await Promise.all(
      encoders.map((e, i) => Promise.all(used[i].map((f) => services.textualInversion(f.path, e.component === 'text_encoder' ? model.textEncoder.hiddenSize : undefined, EMBEDDING_TENSORS[e.component === 'text_encoder' ? 0 : 1])))),
    );
    const patches = encoders.map((e, i) => composePatches(services.patchFor(e.component), textualInversionPatch(inversions[i], vocabSize)));
    const key = [
      ...encoders.map((e, i) => `${join(model.dir, e.component)}${patches[i] ? `#${patches[i]!.key}` : ''}`),
      `skip:${fromEnd}`,
      zeroed ? 'zeros' : '',
      text,
      prompt2,
    ].join('\0');
    const encoded = await services.cached(key, async () => {
      const outputs = await Promise.all(
        encoders.map(async (e, i) => {
          const [tokenizer, encoder] = await Promise.all([services.tokenizer(join(model.dir, e.tokenizer)), services.acquire(e.component, CLIPTextEncoder, patches[i])]);
          const ids = textualInversionIds(inversions[i], vocabSize);
          const embeddings = used[i].map((e, k) => ({ ...e, ids: ids[k] }));
          return encodeOne(texts[i], tokenizer, encoder, fromEnd, services, embeddings);
        }),
      );
      const first = outputs[0];
      const second = outputs[outputs.length - 1];
      if (!second.pooled) {
        throw new ModelError("text_encoder_2 has no 'text_embeds' output (the pooled, projected embedding SDXL's UNet takes)", join(model.dir, 'text_encoder_2'));
      }
      const hiddenStates = outputs.length === 2 ? concatLastAxis(first.hidden, second.hidden) : second.hidden;
      const conditioning: Conditioning = {
        hiddenStates: zeroed ? zerosLike(hiddenStates) : hiddenStates,
        extra: { text_embeds: zeroed ? zerosLike(second.pooled) : second.pooled },
        maxLength: first.maxLength,
        ...(first.droppedText ? { droppedText: first.droppedText } : {}),
      };
      return conditioning;
    });
    // time_ids depend on the output size, not the text: outside the cache. The output size is also the
    // init image's for image-to-image (it is resized to it before encoding), which is what diffusers'
    // SDXL img2img takes as original and target size (the size of the image it encodes).
    const { width, height } = context;
    const timeIds = floatTensor(Float32Array.from(model.requiresAestheticsScore ? [height, width, 0, 0, aestheticScore(context)] : [height, width, 0, 0, height, width]), [1, model.requiresAestheticsScore ? 5 : 6]);
    return { ...encoded, extra: { ...encoded.extra, time_ids: timeIds } };
  },

  latentDims(model, width, height) {
    return [1, model.vae.latentChannels, height / model.vaeScaleFactor, width / model.vaeScaleFactor];
  },

  latentScale(model) {
    // A VAE config that states no scaling factor gets SDXL's, not SD 1.5's fallback.
    return typeof model.vae.raw.scaling_factor === 'number' ? model.vae.scalingFactor : SDXL_VAE_SCALING_FACTOR;
  },
};

interface EncoderOutput {
  hidden: FloatTensor;
  pooled: FloatTensor | undefined;
  maxLength: number;
  droppedText?: string;
}

async function encodeOne(text: string, tokenizer: CLIPTokenizer, encoder: CLIPTextEncoder, fromEnd: number, services: ConditioningServices, embeddings: readonly EmbeddingTokens[]): Promise<EncoderOutput> {
  const fragments = parsePromptAttention(text);
  const tokenized = await services.timed('tokenize', async () =>
    hasEmphasis(fragments) || embeddings.length > 0
      ? weightedPromptTokens(fragments, tokenizer, embeddings.length > 0 ? embeddingFragmentTokenizer(tokenizer, embeddings) : undefined)
      : { ...tokenizer.encodePrompt(fragments.map((f) => f.text).join('')), weights: undefined },
  );
  const output = await services.timed('textEncoder', () => encoder.encode([tokenized.ids], services.signal, fromEnd), encoder.session);
  const hidden = output.hiddenState!;
  const weighted = tokenized.weights?.some((w) => w !== 1);
  return {
    hidden: weighted ? floatTensor(applyEmphasis(hidden.data, tokenized.weights!), hidden.dims) : hidden,
    pooled: output.pooledOutput,
    maxLength: tokenizer.maxLength,
    ...(tokenized.truncated ? { droppedText: tokenized.droppedText } : {}),
  };
}

/** [b, n, a] and [b, n, c] -> [b, n, a + c]. */
export function concatLastAxis(x: FloatTensor, y: FloatTensor): FloatTensor {
  const [b, n, a] = x.dims;
  const c = y.dims[2];
  if (x.dims.length !== 3 || y.dims.length !== 3 || y.dims[0] !== b || y.dims[1] !== n) {
    throw new RangeError(`cannot concatenate hidden states [${x.dims.join(', ')}] and [${y.dims.join(', ')}]: batch and sequence must agree`);
  }
  const out = new Float32Array(b * n * (a + c));
  for (let row = 0; row < b * n; row++) {
    out.set(x.data.subarray(row * a, (row + 1) * a), row * (a + c));
    out.set(y.data.subarray(row * c, (row + 1) * c), row * (a + c) + a);
  }
  return floatTensor(out, [b, n, a + c]);
}

function zerosLike(t: FloatTensor): FloatTensor {
  return floatTensor(new Float32Array(t.data.length), t.dims);
}

/**
 * The refiner's aesthetic score (diffusers' StableDiffusionXLImg2ImgPipeline: aesthetic_score 6.0 for the
 * prompt, negative_aesthetic_score 2.5 for the negative), from the scene's options when it states them.
 */
function aestheticScore(context: EncodeContext): number {
  const negative = context.role === 'negative';
  const value = context.options?.[negative ? 'negative_aesthetic_score' : 'aesthetic_score'];
  return typeof value === 'number' ? value : negative ? 2.5 : 6;
}

function clipSkipOf(context: EncodeContext): number {
  const value = context.options?.clip_skip;
  return typeof value === 'number' ? value : 1;
}
