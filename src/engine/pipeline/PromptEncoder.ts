// Prompt → text-encoder hidden states, with a small LRU cache so re-rendering after a seed or sampler
// edit does not re-encode unchanged prompts. Truncation is reported, never silent.
import type { CLIPTokenizer } from '../tokenizer';
import type { CLIPTextEncoder } from '../model/clipTextEncoder';
import type { FloatTensor } from '../onnx/tensor';
import type { StageTimings } from './StageTimings';

export interface EncodedPrompt {
  readonly hiddenStates: FloatTensor;
  /** Set when the prompt was longer than the tokenizer's context: the text that was cut. */
  readonly droppedText?: string;
}

export class PromptEmbeddingCache {
  private readonly entries = new Map<string, EncodedPrompt>();

  constructor(private readonly capacity = 64) {}

  get(key: string): EncodedPrompt | undefined {
    const hit = this.entries.get(key);
    if (hit) {
      this.entries.delete(key);
      this.entries.set(key, hit);
    }
    return hit;
  }

  set(key: string, value: EncodedPrompt): void {
    this.entries.delete(key);
    this.entries.set(key, value);
    while (this.entries.size > this.capacity) this.entries.delete(this.entries.keys().next().value as string);
  }

  clear(): void {
    this.entries.clear();
  }
}

/**
 * Encodes `text` with the model's tokenizer and text encoder. `cacheKey` identifies the encoder's weights
 * (model folder plus any LoRA patch) so a cached embedding is never reused for other weights.
 */
export async function encodePrompt(
  text: string,
  tokenizer: CLIPTokenizer,
  encoder: CLIPTextEncoder,
  cache: PromptEmbeddingCache,
  cacheKey: string,
  timings: StageTimings,
  signal?: AbortSignal,
): Promise<EncodedPrompt> {
  const key = `${cacheKey}\0${text}`;
  const cached = cache.get(key);
  if (cached) return cached;
  const tokenized = await timings.time('tokenize', () => tokenizer.encodePrompt(text));
  const before = encoder.session.runTimeMs;
  const output = await timings.time('textEncoder', () => encoder.encode([tokenized.ids], signal));
  timings.addOnnxRuntime(encoder.session.runTimeMs - before);
  const encoded: EncodedPrompt = tokenized.truncated
    ? { hiddenStates: output.lastHiddenState, droppedText: tokenized.droppedText }
    : { hiddenStates: output.lastHiddenState };
  cache.set(key, encoded);
  return encoded;
}
