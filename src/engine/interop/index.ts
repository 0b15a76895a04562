// Interop: reading other tools' generation metadata (and our own) into one normalised shape, and turning
// it into a scene.
export type { ImageMetadata, ImageLoRA, MetadataSource } from './imageMetadata';
export {
  samplerToA1111,
  scheduleToA1111,
  samplerFromA1111,
  samplerFromComfy,
  samplerFromInvoke,
  isSamplerName,
  isScheduleName,
  type SamplerChoice,
} from '../output/samplerNames';
export { parseInfotext, parseInfotextParams, extractLoraTags } from './automatic1111';
export { parseComfyPrompt, parseComfyWorkflow, comfyWorkflowToGraph, metadataFromComfyGraph, toComfyGraph, type ComfyGraph, type ComfyNode } from './comfyui';
export { parseInvokeMetadata, metadataFromInvoke } from './invokeai';
export { parseRecipeText, metadataFromRecipe } from './imgprompt';
export { parseJsonLossless, type JsonValue } from './parseJsonLossless';
export {
  readImageMetadata,
  readImageMetadataFile,
  readStoredRecipeHash,
  type ImageMetadataReport,
  type ImageProvenance,
} from './readImageMetadata';
export { sceneFromMetadata, type SceneFromMetadataOptions } from './sceneFromMetadata';
