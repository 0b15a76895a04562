// Applies token weights to a text encoder's hidden states by A1111's default rule, "Original"
// (sd_hijack_clip.process_tokens, emphasis.EmphasisOriginal): each token's hidden state is multiplied by
// its weight, then the whole tensor is rescaled so that its mean equals the unweighted mean. Computed in
// float32 as torch computes it (products and the final scaling rounded to float32; the two means
// accumulated in float64 and rounded once).

/** The weighted hidden states of one sequence [1, tokens, width] (a new array; `hidden` is not changed). */
export function applyEmphasis(hidden: Float32Array, weights: readonly number[]): Float32Array {
  const tokens = weights.length;
  if (tokens === 0 || hidden.length % tokens !== 0) {
    throw new RangeError(`hidden states of ${hidden.length} values do not split into ${tokens} tokens`);
  }
  const width = hidden.length / tokens;
  const out = new Float32Array(hidden.length);
  let before = 0;
  let after = 0;
  for (let t = 0; t < tokens; t++) {
    const w = Math.fround(weights[t]);
    for (let k = t * width; k < (t + 1) * width; k++) {
      before += hidden[k];
      out[k] = hidden[k] * w;
      after += out[k];
    }
  }
  const scale = Math.fround(Math.fround(before / hidden.length) / Math.fround(after / hidden.length));
  for (let k = 0; k < out.length; k++) out[k] *= scale;
  return out;
}
