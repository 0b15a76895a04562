// Prompt syntax: A1111's emphasis (weights per fragment), their mapping onto tokens, and the weighting
// of the text encoder's hidden states.
export { BREAK_TEXT, BREAK_WEIGHT, hasEmphasis, isBreak, MAX_BRACKET_DEPTH, parsePromptAttention, type PromptFragment } from './promptAttention';
export {
  clipFragmentTokenizer,
  tokensText,
  weightedPromptTokens,
  type FragmentTokenizer,
  type PromptTokenizer,
  type WeightedToken,
  type WeightedTokens,
} from './weightedTokens';
export { applyEmphasis } from './emphasis';
export {
  EMBEDDING_PREFIX,
  embeddingFragmentTokenizer,
  explicitEmbeddingRefs,
  splitEmbeddingNames,
  usesEmbeddings,
  type EmbeddingName,
  type EmbeddingPiece,
  type EmbeddingTokens,
} from './embeddingNames';
