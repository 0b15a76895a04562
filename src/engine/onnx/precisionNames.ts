// The weight-precision variants, by the names scenes use (no imports: the scene vocabulary re-exports
// them, and the editor reads them without loading onnxruntime).

/**
 * Weight precision of the UNet: `fp32` as exported; `int8` quantizes its matrix multiplications (faster
 * on CPUs with VNNI, small quality cost); `fp16` / `bf16` round its weights to half precision (the
 * arithmetic of a half-size export widened at load; no speed change on CPU). docs/precision.md.
 */
export const PRECISIONS = ['fp32', 'int8', 'fp16', 'bf16'] as const;
export type PrecisionName = (typeof PRECISIONS)[number];
