// Checks that a session's graph has the inputs and outputs a component role needs, with an error that
// lists what the graph does have (the usual cause: the wrong folder, or an exporter with other names).
import { ModelError } from '../errors';
import type { OnnxSession, OnnxValueInfo } from '../onnx/onnxSession';

export type ComponentRole = 'text encoder' | 'UNet' | 'VAE decoder' | 'VAE encoder' | 'ControlNet';

function list(values: readonly OnnxValueInfo[]): string {
  return values.map((v) => `'${v.name}'`).join(', ') || 'none';
}

export function requireInput(session: OnnxSession, role: ComponentRole, name: string): OnnxValueInfo {
  const info = session.input(name);
  if (!info) {
    throw new ModelError(`this graph cannot be used as a ${role}: it has no input '${name}' (its inputs are ${list(session.inputs)})`, session.modelPath);
  }
  return info;
}

export function requireOutput(session: OnnxSession, role: ComponentRole, names: readonly string[]): OnnxValueInfo {
  for (const name of names) {
    const info = session.output(name);
    if (info) return info;
  }
  const wanted = names.map((n) => `'${n}'`).join(' or ');
  throw new ModelError(`this graph cannot be used as a ${role}: it has no output ${wanted} (its outputs are ${list(session.outputs)})`, session.modelPath);
}

/** The channel count of a [batch, channels, height, width] value when the graph fixes it. */
export function fixedDim(info: OnnxValueInfo, axis: number): number | undefined {
  const d = info.shape[axis];
  return typeof d === 'number' ? d : undefined;
}
