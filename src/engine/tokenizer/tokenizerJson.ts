// Reads the parts of a Hugging Face tokenizers file (`tokenizer/tokenizer.json`) that a CLIP BPE
// tokenizer needs, for exports that ship it instead of vocab.json + merges.txt: model.vocab,
// model.merges (written as "a b" strings by older tokenizers releases, as ["a", "b"] pairs by newer
// ones), added_tokens, and the special tokens and length it states (model.unk_token, the post-processor's
// start/end tokens, padding.pad_token, truncation.max_length). Text clean-up and pre-tokenisation stay
// CLIP's own (CLIPTokenizer.ts), so a file is accepted only when its model is CLIP-style byte-level BPE:
// words end in "</w>", no continuing-subword prefix, no dropout.
import { ModelError } from '../errors';

export interface TokenizerJsonParts {
  readonly vocab: Map<string, number>;
  /** "left right" → merge rank, in file order. */
  readonly ranks: Map<string, number>;
  readonly unkToken?: string;
  readonly bosToken?: string;
  readonly eosToken?: string;
  readonly padToken?: string;
  readonly maxLength?: number;
  /** added_tokens contents other than the start and end tokens, split out of prompts whole. */
  readonly addedTokens: readonly string[];
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Start and end tokens a post-processor adds around a sequence (RobertaProcessing, BertProcessing, TemplateProcessing, Sequence). */
function boundaryTokens(processor: unknown): { bos?: string; eos?: string } {
  if (!isObject(processor)) return {};
  if (processor.type === 'Sequence' && Array.isArray(processor.processors)) {
    for (const p of processor.processors) {
      const found = boundaryTokens(p);
      if (found.bos || found.eos) return found;
    }
    return {};
  }
  const first = (pair: unknown) => (Array.isArray(pair) && typeof pair[0] === 'string' ? pair[0] : undefined);
  if (processor.type === 'RobertaProcessing' || processor.type === 'BertProcessing') return { bos: first(processor.cls), eos: first(processor.sep) };
  if (processor.type === 'TemplateProcessing' && Array.isArray(processor.single)) {
    const pieces: unknown[] = processor.single;
    const special = (piece: unknown) => (isObject(piece) && isObject(piece.SpecialToken) && typeof piece.SpecialToken.id === 'string' ? [piece.SpecialToken.id] : []);
    const sequence = pieces.findIndex((piece) => isObject(piece) && isObject(piece.Sequence));
    if (sequence < 0) return {};
    const before = pieces.slice(0, sequence).flatMap(special);
    const after = pieces.slice(sequence + 1).flatMap(special);
    return { bos: before[0], eos: after[after.length - 1] };
  }
  return {};
}

/** The CLIP tokenizer's parts of a tokenizer.json text; `path` names the file in errors. */
export function parseTokenizerJson(text: string, path: string): TokenizerJsonParts {
  let root: unknown;
  try {
    root = JSON.parse(text);
  } catch (error) {
    throw new ModelError(`is not valid JSON (${(error as Error).message})`, path);
  }
  if (!isObject(root) || !isObject(root.model)) throw new ModelError('expected a Hugging Face tokenizers file: a JSON object with a "model" object', path);
  const model = root.model;
  const refuse = (what: string): never => {
    throw new ModelError(`${what}; only CLIP's byte-level BPE tokenizer (model.type "BPE", end_of_word_suffix "</w>") is supported`, path);
  };
  if (model.type !== undefined && model.type !== 'BPE') refuse(`model.type is ${JSON.stringify(model.type)}`);
  if (model.end_of_word_suffix !== '</w>') refuse(`model.end_of_word_suffix is ${JSON.stringify(model.end_of_word_suffix ?? null)}`);
  if (model.continuing_subword_prefix !== undefined && model.continuing_subword_prefix !== null && model.continuing_subword_prefix !== '') {
    refuse(`model.continuing_subword_prefix is ${JSON.stringify(model.continuing_subword_prefix)}`);
  }
  if (typeof model.dropout === 'number' && model.dropout > 0) refuse(`model.dropout is ${model.dropout} (random merges)`);
  if (model.ignore_merges === true) refuse('model.ignore_merges is true');
  if (!isObject(model.vocab)) throw new ModelError('model.vocab must be an object mapping tokens to ids', path);
  if (!Array.isArray(model.merges)) throw new ModelError('model.merges must be a list of merges', path);

  const vocab = new Map<string, number>();
  for (const [token, id] of Object.entries(model.vocab)) {
    if (!Number.isInteger(id) || (id as number) < 0) throw new ModelError(`model.vocab: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}; ids are non-negative integers`, path);
    vocab.set(token, id as number);
  }
  const ranks = new Map<string, number>();
  model.merges.forEach((merge: unknown, i: number) => {
    const parts = typeof merge === 'string' ? merge.split(' ') : merge;
    if (!Array.isArray(parts) || parts.length !== 2 || !parts.every((p) => typeof p === 'string' && p !== '' && !p.includes(' '))) {
      throw new ModelError(`model.merges[${i}] is ${JSON.stringify(merge)}; each merge is "left right" or ["left", "right"]`, path);
    }
    const key = `${parts[0]} ${parts[1]}`;
    if (!ranks.has(key)) ranks.set(key, ranks.size);
  });

  const added: string[] = [];
  if (root.added_tokens !== undefined && root.added_tokens !== null) {
    if (!Array.isArray(root.added_tokens)) throw new ModelError('added_tokens must be a list', path);
    root.added_tokens.forEach((t: unknown, i: number) => {
      if (!isObject(t) || typeof t.content !== 'string' || t.content === '' || !Number.isInteger(t.id) || (t.id as number) < 0) {
        throw new ModelError(`added_tokens[${i}] must have a non-empty "content" and a non-negative integer "id"`, path);
      }
      if (!vocab.has(t.content)) vocab.set(t.content, t.id as number);
      added.push(t.content);
    });
  }

  const { bos, eos } = boundaryTokens(root.post_processor);
  const padding = isObject(root.padding) && typeof root.padding.pad_token === 'string' ? root.padding.pad_token : undefined;
  const truncation = isObject(root.truncation) ? root.truncation.max_length : undefined;
  if (truncation !== undefined && (!Number.isInteger(truncation) || (truncation as number) < 2)) {
    throw new ModelError(`truncation.max_length is ${JSON.stringify(truncation)}; expected an integer of at least 2`, path);
  }
  return {
    vocab,
    ranks,
    unkToken: typeof model.unk_token === 'string' ? model.unk_token : undefined,
    bosToken: bos,
    eosToken: eos,
    padToken: padding,
    maxLength: truncation as number | undefined,
    addedTokens: added.filter((t) => t !== bos && t !== eos),
  };
}
