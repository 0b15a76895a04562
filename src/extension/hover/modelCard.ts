// The model card a hover on `model:` shows: where the folder was found, native size and grid, which
// components are present on disk, the VAE scaling factor, the scheduler class and the defaults a scene
// inherits. Pure (the file checks go through an injected stat), unit-tested on the fixture models.
import { join } from 'node:path';
import type { ModelConfig, ModelLocation } from '../../engine/editor';

/** Components with ONNX graphs, in pipeline order; `model.onnx` inside each must exist. */
export const ONNX_COMPONENTS = ['text_encoder', 'text_encoder_2', 'unet', 'vae_decoder', 'vae_encoder'] as const;
/** Components without graphs, present as folders of JSON/text files. */
const CONFIG_COMPONENTS = ['tokenizer', 'scheduler'] as const;

export interface ComponentPresence {
  name: string;
  /** Listed in model_index.json. */
  listed: boolean;
  present: boolean;
}

/** Which components the folder lists and which are on disk (`model.onnx` for graphs, the folder otherwise). */
export function componentPresence(config: ModelConfig, exists: (path: string) => boolean): ComponentPresence[] {
  const names = [...ONNX_COMPONENTS, ...CONFIG_COMPONENTS, ...config.components.filter((c) => !(ONNX_COMPONENTS as readonly string[]).includes(c) && !(CONFIG_COMPONENTS as readonly string[]).includes(c))];
  return names
    .map((name) => {
      const graph = (ONNX_COMPONENTS as readonly string[]).includes(name);
      return { name, listed: config.components.includes(name), present: exists(graph ? join(config.dir, name, 'model.onnx') : join(config.dir, name)) };
    })
    .filter((c) => c.listed || c.present);
}

const VIA: Record<ModelLocation['via'], string> = {
  builtin: 'built into imgprompt',
  search: 'from the configured model folders',
  path: 'a folder beside the scene',
  hub: 'from the Hugging Face cache',
};

/** Markdown for the hover. */
export function formatModelCard(config: ModelConfig, location: ModelLocation, components: readonly ComponentPresence[]): string {
  const lines = [`**${config.name}** — ${VIA[location.via]}${config.pipelineClass ? ` · \`${config.pipelineClass}\`` : ''}`, ''];
  lines.push(`- native size ${config.nativeWidth}×${config.nativeHeight}, sizes in multiples of ${config.grid} px`);
  if (config.buckets.length) lines.push(`- trained at ${config.buckets.map((b) => `${b.width}×${b.height}`).join(', ')}`);
  const graphs = components.map((c) => `${c.name} ${c.present ? '✓' : c.listed ? '✗ missing' : ''}`.trim());
  lines.push(`- components: ${graphs.join(', ') || 'none found'}`);
  lines.push(`- VAE scaling factor ${config.vae.scalingFactor}, latent ${config.vae.latentChannels} channels, text encoder width ${config.textEncoder.hiddenSize}`);
  lines.push(`- scheduler \`${config.scheduler.className}\` (${config.scheduler.config.predictionType ?? 'epsilon'} prediction, ${config.scheduler.config.timestepSpacing ?? 'leading'} spacing)`);
  const d = config.defaults;
  lines.push(`- defaults: sampler ${d.sampler}, schedule ${d.schedule}, ${d.steps} steps, guidance ${d.guidance}`);
  lines.push('', `\`${config.dir}\``);
  return lines.join('\n');
}
