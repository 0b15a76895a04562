// ControlNet hint preprocessing (canny, scribble, raw) and hint loading.
export { canny, gaussianTaps, CANNY_DEFAULTS, type CannyOptions } from './canny';
export { scribble, thinZhangSuen } from './scribble';
export { loadHint, maskToRGB, preprocessHint, rgbToHintTensor, HINT_TYPES, type Hint, type HintType } from './hint';
