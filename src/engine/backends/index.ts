export { ComfyUIBackend } from './comfyui/ComfyUIBackend';
export { ComfyUIClient, comboChoices, describePromptRejection, parsePreviewFrame } from './comfyui/comfyClient';
export { buildComfyGraph, jsonWithBigInts, COMFY_OUTPUT_PREFIX, type ComfyGraph as ComfyApiGraph, type ComfyNode as ComfyApiNode, type ComfyInput } from './comfyui/comfyGraph';
export { BackendRequestError, BackendUnavailableError } from './http';
export { remoteRequestFromJob, COMFY_SAMPLERS, type RemoteRequest, type ServerModelMap } from './remoteRequest';
export { REMOTE_FAMILIES, familyDefaults, validateFamilyKeys, isRemoteFamily, type RemoteFamily } from './remoteFamilies';
export { parseServerConfig, parseBackendsFile, BACKENDS_FILE, REMOTE_APIS, type RemoteServerConfig, type RemoteApi } from './remoteServer';
export { A1111Backend } from './a1111/A1111Backend';
export { buildA1111Payload, A1111_SAMPLERS, A1111_SCHEDULERS, type A1111Payload } from './a1111/a1111Payload';
