// The CLIP text encoder of a single-file SD 1.x checkpoint (LDM / CompVis layout) under transformers'
// names, for buildClipTextGraph. SD 1.x checkpoints store transformers' CLIPTextModel state dict under
// `cond_stage_model.transformer.`: `cond_stage_model.transformer.text_model.embeddings.token_embedding.weight`
// (transformers ≥ 4.x wraps the model in `text_model`), or, in checkpoints saved with older transformers,
// the same names without `text_model.` (`cond_stage_model.transformer.embeddings.token_embedding.weight`).
// Names and shapes are unchanged below the prefix, so the view only renames. The `position_ids` buffer
// (int64, [1, 77]) some checkpoints carry is not a weight and is left out: the graph uses positions
// 0 … sequence_length - 1, as transformers does.
// SD 2.x (OpenCLIP under `cond_stage_model.model.`, fused in_proj) is a different layout, not read here.
import { renamedWeights, type WeightSource } from './weightSource';

export const LDM_CLIP_PREFIX = 'cond_stage_model.transformer.';
const TEXT_MODEL = 'text_model.';
const PROBE = 'embeddings.token_embedding.weight';

/** Where the text model's names start in `source`, or undefined when it holds no SD 1.x text encoder. */
export function ldmClipBase(source: WeightSource): string | undefined {
  for (const base of [LDM_CLIP_PREFIX + TEXT_MODEL, LDM_CLIP_PREFIX]) if (source.has(base + PROBE)) return base;
  return undefined;
}

/**
 * `source` (a whole single-file checkpoint) seen under transformers' names (`text_model.…`). Asking for a
 * weight the checkpoint lacks gives weightSource's "is missing" error naming the diffusers name.
 */
export function ldmClipWeights(source: WeightSource): WeightSource {
  const base = ldmClipBase(source) ?? LDM_CLIP_PREFIX + TEXT_MODEL;
  const exposed = source
    .names()
    .filter((n) => n.startsWith(base) && !n.endsWith('position_ids'))
    .map((n) => TEXT_MODEL + n.slice(base.length));
  // With the older layout, `cond_stage_model.transformer.text_model.…` does not exist, so nothing else matches.
  return renamedWeights(source, (name) => (name.startsWith(TEXT_MODEL) && !name.endsWith('position_ids') ? base + name.slice(TEXT_MODEL.length) : undefined), exposed);
}
