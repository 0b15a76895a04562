// VAE decoder component: latents [batch, 4, h, w] -> image [batch, 3, 8h, 8w] in about [-1, 1].
// The caller divides latents by the model's scaling factor first (it belongs to the model config).
import { requireInput, requireOutput } from './componentIO';
import type { OnnxSession } from '../onnx/onnxSession';
import type { FloatTensor } from '../onnx/tensor';

export class VAEDecoder {
  private readonly outputName: string;

  constructor(readonly session: OnnxSession) {
    requireInput(session, 'VAE decoder', 'latent_sample');
    this.outputName = requireOutput(session, 'VAE decoder', ['sample']).name;
  }

  get runTimeMs(): number {
    return this.session.runTimeMs;
  }

  async decode(latents: FloatTensor, signal?: AbortSignal): Promise<FloatTensor> {
    const result = await this.session.run({ latent_sample: latents }, [this.outputName], signal);
    return result[this.outputName];
  }
}
