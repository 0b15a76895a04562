// Explains a session that failed because onnxruntime's CPU execution provider has no kernel for one of
// the graph's nodes. The usual cause is an export optimized for a GPU: onnxruntime's transformer
// optimizer and Olive (DirectML, CUDA) fuse Stable Diffusion graphs into com.microsoft operators in
// float16 (GroupNorm, NhwcConv, BiasSplitGelu, BiasAdd...) that only GPU providers implement. onnxruntime
// 1.30 says so in two ways, found by experiment on the CPU provider:
//   "Could not find an implementation for GroupNorm(1) node with name 'n'"   (no provider claims the node)
//   "Failed to find kernel for com.microsoft.GroupNorm(1) (node:'n' ep:'CPUExecutionProvider'). Kernel not found"
// The error names the operator with its domain, opset and node, the component file, whether the node
// runs in float16, and what to use instead.
import { basename, dirname } from 'node:path';
import { ModelError } from '../errors';
import { CONTRIB_DOMAIN } from './onnxProto';
import type { OnnxModelFiles } from './onnxModelFiles';
import { onnxGraphOutline } from './onnxGraphOutline';

const PATTERNS = [
  /Could not find an implementation for (?<op>[\w.]+)\((?<version>\d+)\) node with name '(?<node>[^']*)'/,
  /Failed to find kernel for (?<op>[\w.]+)\((?<version>\d+)\) \(node:'(?<node>[^']*)'/,
];

const FLOAT16 = 10;

export const CPU_EXPORT_ADVICE =
  'an fp32 export made for the CPU instead: `optimum-cli export onnx --model <model> <folder>` without `--fp16` / `--dtype fp16` and without `--optimize O4` ' +
  "(or diffusers' convert_stable_diffusion_checkpoint_to_onnx.py without --fp16), not an Olive / DirectML or CUDA-optimized one";

/** Whether the node reads float16 tensors ('inputs'), sits in a float16 graph ('graph'), or neither. */
function float16Use(files: OnnxModelFiles, nodeName: string, opType: string): 'inputs' | 'graph' | undefined {
  let outline;
  try {
    outline = onnxGraphOutline(files.modelBytes);
  } catch {
    return undefined;
  }
  const types = new Map<string, number | undefined>();
  for (const v of [...outline.inputs, ...outline.valueInfo, ...outline.outputs]) types.set(v.name, v.elemType);
  for (const i of outline.initializers) types.set(i.name, i.dataType);
  const node = outline.nodes.find((n) => (nodeName ? n.name === nodeName : n.opType === opType));
  if (node?.inputs.some((i) => types.get(i) === FLOAT16)) return 'inputs';
  const floats = outline.initializers.filter((i) => i.dataType === FLOAT16 || i.dataType === 1);
  const half = floats.filter((i) => i.dataType === FLOAT16).length;
  return floats.length > 0 && half * 2 > floats.length ? 'graph' : undefined;
}

/**
 * A ModelError for onnxruntime's "no kernel for this node" load failure `detail`, or undefined when the
 * failure is something else.
 */
export function missingKernelError(detail: string, files: OnnxModelFiles): ModelError | undefined {
  const match = PATTERNS.map((p) => p.exec(detail)).find((m) => m !== null);
  if (!match?.groups) return undefined;
  const { op: qualified, version, node } = match.groups;
  const dot = qualified.lastIndexOf('.');
  const opType = dot < 0 ? qualified : qualified.slice(dot + 1);
  const domain = files.info.nodes.find((n) => (node ? n.name === node : n.opType === opType))?.domain ?? (dot < 0 ? '' : qualified.slice(0, dot));
  const operator = domain && domain !== 'ai.onnx' ? `${domain}.${opType}` : opType;
  const fp16 = float16Use(files, node, opType);
  const types = fp16 === 'inputs' ? ' with float16 inputs' : fp16 === 'graph' ? ' in a float16 graph' : '';
  const component = basename(dirname(files.modelPath));
  const why =
    domain === CONTRIB_DOMAIN || fp16
      ? `this ${component} export was optimized for a GPU (fused${fp16 ? ' float16' : ''} operators for DirectML or CUDA), which onnxruntime's CPU execution provider cannot run`
      : 'onnxruntime has no implementation of it for the CPU';
  return new ModelError(
    `no CPU kernel for the operator ${operator} (opset ${version}) at node '${node}'${types}: ${why}. Use ${CPU_EXPORT_ADVICE}; onnxruntime said: ${detail}`,
    files.modelPath,
  );
}
