// The invisible watermark: embedding, detection, and the facts a C2PA soft-binding assertion records.
export { WATERMARK_ALGORITHM, PAYLOAD_BITS, CODEWORD_BITS, payloadOfHash, encodeCodeword, decodeCodeword, crc16 } from './watermarkCode';
export { WATERMARK_STRENGTH, embedWatermark } from './embedWatermark';
export { DETECTION_THRESHOLD, detectWatermark, type WatermarkDetection, type DetectOptions } from './detectWatermark';
export { markImage, type RecordedMarks } from './markImage';
export { readWatermark, readWatermarkFile, decodeImageRGB, type WatermarkReport } from './readWatermark';
export { SOFT_BINDING_LABEL, watermarkSoftBinding, type SoftBindingAssertion, type SoftBindingBlock } from './softBinding';
export { drawLabel, defaultLabelSize, LABEL_CORNERS, LABEL_DEFAULTS, LABEL_LIMITS, type LabelCorner, type VisibleLabel } from './visibleLabel';
export { parseLabelSetting, parseLabelEnv, isLabelOff, type LabelSetting, type ParsedLabelSetting } from './labelSetting';
