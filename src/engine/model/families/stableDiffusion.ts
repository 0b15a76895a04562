// Stable Diffusion 1.x and 2.x: one CLIP text encoder whose last hidden state conditions the UNet, four
// latent channels at 1/8 of the image size, the VAE's scaling factor (0.18215 for SD 1.x/2.x, read from
// its config). SD 2.x differs only in configs (OpenCLIP-H width, v-prediction), which come from the files.
// Prompts may carry A1111's emphasis (prompt/): the encoder runs on the plain tokens and the weights are
// applied to its hidden states; a prompt without emphasis or embeddings takes the path it always took.
// Textual-inversion embeddings the prompt uses become extra rows of the encoder's token table.
import { join } from 'node:path';
import { SD15_LATENT_RGB_FACTORS } from '../../image/latentPreview';
import { composePatches } from '../../onnx/sessionCache';
import { floatTensor } from '../../onnx/tensor';
import { applyEmphasis, embeddingFragmentTokenizer, hasEmphasis, parsePromptAttention, usesEmbeddings, weightedPromptTokens } from '../../prompt';
import { CLIPTextEncoder } from '../clipTextEncoder';
import { clipSkipPatch } from '../clipSkip';
import { textualInversionIds, textualInversionPatch } from '../textualInversion';
import type { ModelConfig } from '../modelConfig';
import type { Conditioning, ConditioningServices, EncodeContext, ModelFamily } from './ModelFamily';

export const stableDiffusion: ModelFamily = {
  id: 'sd1',
  label: 'Stable Diffusion 1.x/2.x',
  textEncoders: ['text_encoder'],
  previewFactors: SD15_LATENT_RGB_FACTORS,

  matches(model: ModelConfig): boolean {
    return !model.components.includes('text_encoder_2');
  },

  async encodePrompt(text, context, model, services: ConditioningServices): Promise<Conditioning> {
    // LoRAs change the encoder's weights, embeddings extend its token table, clip_skip > 1 takes the
    // hidden state from an earlier layer: each makes a session variant, and the cache key names it.
    const used = (context.embeddings ?? []).filter((e) => usesEmbeddings(text, [e]));
    const inversions = await Promise.all(used.map((e) => services.textualInversion(e.path, model.textEncoder.hiddenSize)));
    const vocabSize = model.textEncoder.vocabSize;
    const patch = composePatches(composePatches(services.patchFor('text_encoder'), textualInversionPatch(inversions, vocabSize)), clipSkipPatch(clipSkipOf(context)));
    const key = `${join(model.dir, 'text_encoder')}${patch ? `#${patch.key}` : ''}\0${text}`;
    return services.cached(key, async () => {
      const [tokenizer, encoder] = await Promise.all([services.tokenizer(join(model.dir, 'tokenizer')), services.acquire('text_encoder', CLIPTextEncoder, patch)]);
      const fragments = parsePromptAttention(text);
      const ids = textualInversionIds(inversions, vocabSize);
      const tokenizeFragment = embeddingFragmentTokenizer(tokenizer, used.map((e, i) => ({ ...e, ids: ids[i] })));
      const tokenized = await services.timed('tokenize', async () =>
        // Without emphasis or embeddings the fragments are one piece of text, encoded as a whole (as A1111 does).
        hasEmphasis(fragments) || used.length > 0
          ? weightedPromptTokens(fragments, tokenizer, tokenizeFragment)
          : { ...tokenizer.encodePrompt(fragments[0].text), weights: undefined },
      );
      const output = await services.timed('textEncoder', () => encoder.encode([tokenized.ids], services.signal), encoder.session);
      const hidden = output.lastHiddenState;
      const weighted = tokenized.weights?.some((w) => w !== 1);
      return {
        hiddenStates: weighted ? floatTensor(applyEmphasis(hidden.data, tokenized.weights!), hidden.dims) : hidden,
        extra: {},
        maxLength: tokenizer.maxLength,
        ...(tokenized.truncated ? { droppedText: tokenized.droppedText } : {}),
      };
    });
  },

  latentDims(model, width, height) {
    return [1, model.vae.latentChannels, height / model.vaeScaleFactor, width / model.vaeScaleFactor];
  },

  latentScale(model) {
    return model.vae.scalingFactor;
  },
};

/** The context's clip_skip (1, the last layer, when absent). */
function clipSkipOf(context: EncodeContext): number {
  const value = context.options?.clip_skip;
  return typeof value === 'number' ? value : 1;
}
