// LoRA support: reading .safetensors files, mapping kohya / diffusers / PEFT keys onto an ONNX graph's
// weights, and merging them into a component through a session WeightPatch.
export {
  readSafetensors,
  decodeTensorBytes,
  SafetensorsFile,
  SafetensorsError,
  MAX_SAFETENSORS_HEADER_BYTES,
  type SafetensorsTensorInfo,
  type SafetensorsFault,
  type ReadSafetensorsOptions,
} from './safetensors';
export { groupLoraKeys, componentOfName, LORA_COMPONENTS, type LoraComponent, type LoraModuleKeys, type LoraKeyGroups } from './keyMapping';
export { loadLora, type LoraFile, type LoraModule } from './loraFile';
export { onnxWeightTargets, weightLayout, OnnxWeightTargets, type WeightTarget } from './onnxTargets';
export { planLoras, loraWeightPatch, applyLoras, type LoraUse, type HashedLoraUse, type LoraPlan } from './patch';
