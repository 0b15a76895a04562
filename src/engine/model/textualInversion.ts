// Textual-inversion embeddings: vectors trained to stand for a word, stored in `.safetensors` files
// (A1111's `emb_params`, or any single tensor; SDXL files hold `clip_l` and `clip_g`, of which SD 1.x
// uses `clip_l`). The text encoder takes token ids, not vectors, so its token-embedding table is
// extended (a session variant): the embedding's vectors become rows after the vocabulary and the prompt
// uses their ids. Every other reader of the ids (the EOS lookup of pooling, tiny-shapes' EOS fill) sees
// id 0 at those positions, as A1111 puts 0 in the token list where it substitutes an embedding's vectors.
import { createHash } from 'node:crypto';
import { InputError, ModelError } from '../errors';
import { readFileBounded } from '../io/readBounded';
import { parseSafetensorsHeaderJson, decodeTensorBytes, SafetensorsError } from '../lora/safetensors';
import { toFloat16Bits } from '../onnx/float16';
import { readInitializerBytes, type OnnxModelFiles } from '../onnx/onnxModelFiles';
import { OnnxProtoError, parseOnnxModel } from '../onnx/onnxProto';
import { parseEditableModel, writeEditedModel, type EditableNode, type NewInitializer, type NewNode } from '../onnx/onnxWriter';
import type { WeightPatch } from '../onnx/sessionCache';
import { indexGraph, renamedNode } from './graphEdit';

/** Largest embedding file read (real ones are kilobytes; SDXL pairs a few hundred KB). */
export const MAX_EMBEDDING_FILE_BYTES = 64 * 1024 * 1024;
/** An embedding may not fill more than CLIP's 75 prompt tokens. */
const MAX_VECTORS = 75;
const FLOAT = 1;
const FLOAT16 = 10;
const INT64 = 7;

export interface TextualInversion {
  /** The file, for errors. */
  readonly path: string;
  /** The tensor read (`emb_params`, `clip_l`, `clip_g`, ...), for errors. */
  readonly tensor: string;
  /** Width of each vector. */
  readonly width: number;
  /** sha256 of the file (hex): identifies the vectors in cache keys. */
  readonly sha256: string;
  /** Number of vectors (tokens the embedding takes in the prompt). */
  readonly count: number;
  /** The vectors, [count, width], row-major. */
  readonly vectors: Float32Array;
}

/** SDXL's embedding files hold one tensor per text encoder: `clip_l` (ViT-L, 768 wide) and `clip_g` (bigG, 1280 wide). */
export type SdxlEmbeddingTensor = 'clip_l' | 'clip_g';

/**
 * Reads an embedding file for a text encoder of hidden size `width` (undefined: any width, checked
 * against the token table when the encoder is patched). With `tensor`, that tensor of an SDXL file is
 * read; without, SD 1.x/2.x's choice (clip_l, or the single tensor). InputError for a file that is not one.
 */
export async function loadTextualInversion(path: string, width: number | undefined, tensor?: SdxlEmbeddingTensor): Promise<TextualInversion> {
  if (!/\.safetensors$/i.test(path)) {
    throw new InputError('only .safetensors embeddings are read (a .pt or .bin file is a pickle, which is never loaded): convert it to .safetensors', path);
  }
  const bytes = await readFileBounded(path, MAX_EMBEDDING_FILE_BYTES, 'embedding');
  if (bytes.length < 8) throw new SafetensorsError(`the file has ${bytes.length} bytes, fewer than the 8-byte header length of the safetensors format`, path, 'too-short');
  const headerLength = bytes.readBigUInt64LE(0);
  if (headerLength > BigInt(bytes.length - 8)) throw new SafetensorsError(`the header length ${headerLength} is larger than the file: not a safetensors file, or truncated`, path, 'header-length');
  const dataStart = 8 + Number(headerLength);
  const { tensors } = parseSafetensorsHeaderJson(bytes.subarray(8, dataStart), bytes.length - dataStart, path);
  const names = [...tensors.keys()];
  let name: string | undefined;
  if (tensor !== undefined) {
    if (!tensors.has(tensor)) {
      throw new InputError(`an SDXL model needs an SDXL embedding, with 'clip_l' and 'clip_g' tensors (one per text encoder); this file has ${names.length ? names.map((n) => `'${n}'`).join(', ') : 'no tensors'} (an SD 1.x/2.x embedding?)`, path);
    }
    name = tensor;
  } else if (tensors.has('clip_l')) name = 'clip_l';
  else if (tensors.has('clip_g')) throw new InputError(`an SDXL embedding with only clip_g (for SDXL's second text encoder); SD 1.x/2.x need clip_l`, path);
  else if (names.length === 1) name = names[0];
  else throw new InputError(`expected one tensor (emb_params) or clip_l; found ${names.length ? names.join(', ') : 'none'}`, path);
  const info = tensors.get(name)!;
  const shape = info.shape.length === 1 ? [1, info.shape[0]] : info.shape;
  if (shape.length !== 2 || (width !== undefined && shape[1] !== width)) {
    throw new InputError(`'${name}' has shape [${info.shape.join(', ')}]; this text encoder needs vectors of width ${width ?? 'its hidden size'} ([count, ${width ?? 'width'}])`, path);
  }
  if (shape[0] < 1 || shape[0] > MAX_VECTORS) throw new InputError(`'${name}' has ${shape[0]} vectors; an embedding has 1 to ${MAX_VECTORS}`, path);
  const vectors = decodeTensorBytes(bytes.subarray(dataStart + info.dataOffsets[0], dataStart + info.dataOffsets[1]), info.dtype);
  if (!vectors.every(Number.isFinite)) throw new InputError(`'${name}' holds NaN or infinite values`, path);
  return { path, tensor: name, sha256: createHash('sha256').update(bytes).digest('hex'), count: shape[0], width: shape[1], vectors };
}

/** The token ids of each embedding when their vectors follow a vocabulary of `vocabSize` rows. */
export function textualInversionIds(inversions: readonly TextualInversion[], vocabSize: number): number[][] {
  let next = vocabSize;
  return inversions.map((t) => Array.from({ length: t.count }, () => next++));
}

/** The text-encoder session variant whose token table holds the embeddings after its `vocabSize` rows. */
export function textualInversionPatch(inversions: readonly TextualInversion[], vocabSize: number): WeightPatch | undefined {
  if (inversions.length === 0) return undefined;
  return {
    key: `textual-inversion:v1:${vocabSize}:${inversions.map((t) => (t.tensor === 'clip_g' ? `${t.sha256}/clip_g` : t.sha256)).join(',')}`,
    needsWeightsInMemory: false,
    apply: (files) => applyTextualInversion(files, inversions, vocabSize),
  };
}

/** The token ids tensor as the embedding lookup reads it: input_ids, or input_ids through Casts. */
function isTokenIds(tensor: string, producer: ReadonlyMap<string, EditableNode>): boolean {
  for (let t = tensor, depth = 0; depth < 4; depth++) {
    if (t === 'input_ids') return true;
    const p = producer.get(t);
    if (!p || p.opType !== 'Cast') return false;
    t = p.inputs[0];
  }
  return false;
}

export async function applyTextualInversion(files: OnnxModelFiles, inversions: readonly TextualInversion[], vocabSize: number): Promise<OnnxModelFiles> {
  const fail = (message: string): never => {
    throw new ModelError(`cannot add textual-inversion embeddings: ${message}`, files.modelPath);
  };
  let model;
  try {
    model = parseEditableModel(files.modelBytes);
  } catch (error) {
    if (error instanceof OnnxProtoError) fail(`the graph cannot be read (${error.message})`);
    throw error;
  }
  const g = indexGraph(model);
  const lookups = model.nodes.filter((n) => n.opType === 'Gather' && n.domain === '' && model.initializers.get(n.inputs[0])?.dims.length === 2 && isTokenIds(n.inputs[1], g.producer));
  if (lookups.length !== 1) fail(`expected one token-embedding lookup (a Gather of a [vocab, width] table by input_ids), found ${lookups.length}`);
  const lookup = lookups[0];
  const tableName = lookup.inputs[0];
  const table = files.info.initializers.find((i) => i.name === tableName);
  if (!table) return fail(`the token table '${tableName}' is not an initializer`);
  const [rows, width] = table.dims;
  if (rows !== vocabSize) fail(`the token table has ${rows} rows, but the tokenizer's vocabulary has ${vocabSize}`);
  for (const t of inversions) {
    if (t.width !== width) throw new InputError(`'${t.tensor}' holds vectors of width ${t.width}, but this text encoder's token table is ${width} wide (an embedding for another model?)`, t.path);
  }
  if (table.dataType !== FLOAT && table.dataType !== FLOAT16) fail(`the token table has data type ${table.dataType}; float32 and float16 are supported`);
  const stored = await readInitializerBytes(files, table);
  if (!stored) return fail('the token table is stored in typed fields, not raw bytes');
  const added = inversions.reduce((n, t) => n + t.count, 0);
  const size = table.dataType === FLOAT ? 4 : 2;
  const raw = new Uint8Array(stored.length + added * width * size);
  raw.set(stored);
  const view = new DataView(raw.buffer);
  let at = stored.length;
  for (const t of inversions) {
    for (const v of t.vectors) {
      if (size === 4) view.setFloat32(at, v, true);
      else view.setUint16(at, toFloat16Bits(v), true);
      at += size;
    }
  }
  const newInitializers: NewInitializer[] = [{ name: tableName, dataType: table.dataType, dims: [rows + added, width], raw }];

  // Readers of the ids other than the lookup see 0 where an embedding's ids are.
  const ids = lookup.inputs[1];
  const readers = new Set((g.consumers.get(ids) ?? []).filter((n) => n !== lookup));
  const safe = `${ids}/textual_inversion_safe`;
  const guard: NewNode[] = [];
  if (readers.size > 0) {
    const vocab = `${ids}/textual_inversion_vocab`;
    const raw64 = new Uint8Array(8);
    new DataView(raw64.buffer).setBigInt64(0, BigInt(vocabSize), true);
    newInitializers.push({ name: vocab, dataType: INT64, dims: [], raw: raw64 });
    const node = (opType: string, inputs: string[], output: string, attributes: NewNode['attributes'] = []): NewNode => ({ name: output, opType, domain: '', inputs, outputs: [output], attributes });
    guard.push(
      node('Cast', [ids], `${ids}/textual_inversion_int64`, [{ name: 'to', i: INT64 }]),
      node('Less', [`${ids}/textual_inversion_int64`, vocab], `${ids}/textual_inversion_known`),
      node('Sub', [ids, ids], `${ids}/textual_inversion_zero`),
      node('Where', [`${ids}/textual_inversion_known`, ids, `${ids}/textual_inversion_zero`], safe),
    );
  }
  const producerIndex = g.producer.get(ids)?.index ?? -1;
  const nodes = model.nodes.flatMap((node): (EditableNode | NewNode)[] => {
    const kept = readers.has(node) ? renamedNode(node, (t) => (t === ids ? safe : t), fail) : node;
    return node.index === producerIndex ? [kept, ...guard] : [kept];
  });
  if (producerIndex < 0) nodes.unshift(...guard);
  const bytes = writeEditedModel(model, { nodes, removedInitializers: new Set([tableName]), addedInitializers: newInitializers });
  return { ...files, modelBytes: bytes, info: parseOnnxModel(bytes) };
}
