// CLIP tokenization of prompts.
export { CLIPTokenizer, loadCLIPTokenizer, CLIP_CONTEXT_LENGTH } from './CLIPTokenizer';
export type { CLIPTokenizerFiles, CLIPTokenizerJsonFiles, TokenizedPrompt } from './CLIPTokenizer';
export { normalizeCLIPText } from './normalizeCLIPText';
export { clipVocabularyFromBpe, readClipBpeVocabulary, shippedClipBpePath, CLIP_BPE_FILE } from './clipBpeVocabulary';
export type { ClipVocabularyFiles } from './clipBpeVocabulary';
