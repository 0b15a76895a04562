// Seeded noise: the RNG contract, PyTorch's CPU generator and AUTOMATIC1111's "NV" (CUDA-like) source.
export type { RNG } from './RNG';
export { TorchCPUGenerator, normalizeSeed, shapeSize } from './TorchCPUGenerator';
export { PhiloxGenerator } from './PhiloxGenerator';
