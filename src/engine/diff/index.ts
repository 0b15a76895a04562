// Diffs between renders: pixels (heatmap, changed fraction, PSNR) and recipes (fields, prompt words).
export { diffImages, DEFAULT_CHANGE_THRESHOLD, type PixelImage, type ImageDiff, type ImageDiffOptions } from './imageDiff';
export { wordDiff, tokenizeWords, type WordDiffSegment } from './wordDiff';
export { recipeDiff, type RecipeFieldDiff } from './recipeDiff';
