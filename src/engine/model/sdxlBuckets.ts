// The sizes SDXL was trained at near one megapixel: the nine width × height pairs Stability AI publishes
// as SDXL 1.0's supported dimensions (its API's list; every side a multiple of 64, area within 6% of 1024²).
// A budget-sized SDXL render picks among these rather than an arbitrary grid size.

export const SDXL_BUCKETS: readonly { readonly width: number; readonly height: number }[] = [
  { width: 1024, height: 1024 },
  { width: 1152, height: 896 },
  { width: 896, height: 1152 },
  { width: 1216, height: 832 },
  { width: 832, height: 1216 },
  { width: 1344, height: 768 },
  { width: 768, height: 1344 },
  { width: 1536, height: 640 },
  { width: 640, height: 1536 },
];

/** SDXL's native size: the buckets apply to a model trained at it (not to SDXL-Turbo's 512²). */
export const SDXL_NATIVE_SIZE = 1024;
