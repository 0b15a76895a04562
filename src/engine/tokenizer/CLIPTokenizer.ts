// The CLIP tokenizer of Stable Diffusion's text encoders, from the files real exports ship
// (tokenizer/vocab.json + merges.txt, or a Hugging Face tokenizer.json when those are absent, with
// tokenizer_config.json / special_tokens_map.json for the maximum length and special tokens). Behaves
// as OpenAI CLIP's simple_tokenizer and Hugging Face's CLIPTokenizer: clean-up (see normalizeCLIPText),
// CLIP's pre-tokenisation pattern, byte-level BPE, then BOS + ids + EOS, truncated to the maximum
// length keeping EOS, and padded with the pad token.

import { join } from 'node:path';
import { InputError, ModelError } from '../errors';
import { READ_CAPS, readFileBounded } from '../io/readBounded';
import { BytePairEncoder } from './BytePairEncoder';
import { fromByteChars, toByteChars } from './byteUnicode';
import { normalizeCLIPText, WHITESPACE } from './normalizeCLIPText';
import { parseTokenizerJson } from './tokenizerJson';

/** CLIP's context length, used when a config leaves model_max_length unset (or at HF's "no limit" sentinel). */
export const CLIP_CONTEXT_LENGTH = 77;
/** OpenAI CLIP and Hugging Face read at most this many merges: 49152 tokens less 256 bytes and 2 specials. */
const MAX_MERGES = 49152 - 256 - 2;

const DEFAULT_SPECIAL = {
  bosToken: '<|startoftext|>',
  eosToken: '<|endoftext|>',
  padToken: '<|endoftext|>',
  unkToken: '<|endoftext|>',
};

/** The text of the tokenizer files; the optional ones may be absent. */
export interface CLIPTokenizerFiles {
  vocabJson: string;
  mergesTxt: string;
  tokenizerConfigJson?: string;
  specialTokensMapJson?: string;
}

/** A tokenizer folder that ships tokenizer.json instead of vocab.json + merges.txt. */
export interface CLIPTokenizerJsonFiles {
  tokenizerJson: string;
  tokenizerConfigJson?: string;
  specialTokensMapJson?: string;
}

type SpecialTokens = typeof DEFAULT_SPECIAL;

export interface TokenizedPrompt {
  /** BOS, the prompt's ids, EOS, then padding: exactly maxLength ids. */
  readonly ids: readonly number[];
  /** BPE tokens in the prompt before truncation (without BOS/EOS). */
  readonly tokenCount: number;
  /** True when tokens were cut to fit maxLength; the caller should warn. */
  readonly truncated: boolean;
  /** The text of the tokens that were cut ('' when none were), for the warning. */
  readonly droppedText: string;
}

function parseJsonObject(text: string, source: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ModelError(`is not valid JSON (${(error as Error).message})`, source);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ModelError('expected a JSON object', source);
  return value as Record<string, unknown>;
}

/** A special token as written in HF configs: a string, or an AddedToken object with `content`. */
function tokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'object' && value !== null && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/**
 * The special tokens and maximum length after tokenizer_config.json and special_tokens_map.json (read in
 * that order: where both name a token, special_tokens_map.json wins, as in transformers).
 */
function applyConfigs(
  files: { tokenizerConfigJson?: string; specialTokensMapJson?: string },
  source: string,
  stated: SpecialTokens,
  statedMaxLength: number,
): { special: SpecialTokens; maxLength: number } {
  const special = { ...stated };
  let maxLength = statedMaxLength;
  const configs: [string, string | undefined][] = [
    [join(source, 'tokenizer_config.json'), files.tokenizerConfigJson],
    [join(source, 'special_tokens_map.json'), files.specialTokensMapJson],
  ];
  for (const [path, text] of configs) {
    if (text === undefined) continue;
    const config = parseJsonObject(text, path);
    for (const [key, field] of [['bos_token', 'bosToken'], ['eos_token', 'eosToken'], ['pad_token', 'padToken'], ['unk_token', 'unkToken']] as const) {
      if (config[key] === undefined || config[key] === null) continue;
      const value = tokenText(config[key]);
      if (value === undefined) throw new ModelError(`${key} is ${JSON.stringify(config[key])}; expected a token string`, path);
      special[field] = value;
    }
    const length = config.model_max_length;
    if (length !== undefined && length !== null) {
      if (typeof length !== 'number' || !Number.isInteger(length) || length < 2) {
        throw new ModelError(`model_max_length is ${JSON.stringify(length)}; expected an integer of at least 2`, path);
      }
      // transformers writes ~1e30 for "unbounded"; CLIP's position embeddings stop at 77.
      maxLength = length > 1e6 ? CLIP_CONTEXT_LENGTH : length;
    }
  }
  return { special, maxLength };
}

export class CLIPTokenizer {
  readonly bosId: number;
  readonly eosId: number;
  readonly padId: number;
  readonly unkId: number;
  private readonly bpe: BytePairEncoder;
  private readonly idToToken: Map<number, string>;
  private readonly pattern: RegExp;
  private readonly specialTokens: ReadonlySet<string>;

  private constructor(
    private readonly vocab: ReadonlyMap<string, number>,
    ranks: ReadonlyMap<string, number>,
    readonly maxLength: number,
    special: SpecialTokens,
    source: string,
    /** More tokens split out of prompts whole, as the start and end tokens are (tokenizer.json added_tokens). */
    addedTokens: readonly string[] = [],
    vocabFile = 'vocab.json',
  ) {
    const idOf = (role: string, token: string): number => {
      const id = vocab.get(token);
      if (id === undefined) throw new ModelError(`the ${role} token '${token}' is not in ${vocabFile}`, source);
      return id;
    };
    this.bosId = idOf('bos', special.bosToken);
    this.eosId = idOf('eos', special.eosToken);
    this.padId = idOf('pad', special.padToken);
    this.unkId = idOf('unk', special.unkToken);
    this.bpe = new BytePairEncoder(ranks);
    this.idToToken = new Map([...vocab].map(([token, id]) => [id, token]));
    const escape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    // Prompts are matched after clean-up, so only added tokens that clean-up leaves as they are can match.
    const whole = [special.bosToken, special.eosToken, ...addedTokens.filter((t) => normalizeCLIPText(t) === t)];
    const specials = [...new Set(whole)].sort((a, b) => b.length - a.length).map(escape).join('|');
    // CLIP's pre-tokenisation: special tokens, contractions, letter runs, single digits, other runs.
    this.pattern = new RegExp(`${specials}|'s|'t|'re|'ve|'m|'ll|'d|\\p{L}+|\\p{N}|[^${WHITESPACE}\\p{L}\\p{N}]+`, 'giu');
    this.specialTokens = new Set(whole);
  }

  /** Builds a tokenizer from file contents; `source` (the tokenizer folder) names files in errors. */
  static fromFiles(files: CLIPTokenizerFiles, source = 'tokenizer'): CLIPTokenizer {
    const vocabPath = join(source, 'vocab.json');
    const vocabObject = parseJsonObject(files.vocabJson, vocabPath);
    const vocab = new Map<string, number>();
    for (const [token, id] of Object.entries(vocabObject)) {
      if (!Number.isInteger(id) || (id as number) < 0) {
        throw new ModelError(`token ${JSON.stringify(token)} has id ${JSON.stringify(id)}; ids are non-negative integers`, vocabPath);
      }
      vocab.set(token, id as number);
    }

    const mergesPath = join(source, 'merges.txt');
    const lines = files.mergesTxt.replace(/\r\n?/g, '\n').split('\n');
    // The first line is the "#version: 0.2" header in every real export.
    const first = lines[0]?.startsWith('#') ? 1 : 0;
    const ranks = new Map<string, number>();
    for (let i = first; i < lines.length && ranks.size < MAX_MERGES; i++) {
      const line = lines[i].trim();
      if (line === '') continue;
      const parts = line.split(/\s+/);
      if (parts.length !== 2) {
        throw new ModelError(`line ${i + 1} is ${JSON.stringify(line)}; each merge is two symbols separated by a space`, mergesPath);
      }
      const key = `${parts[0]} ${parts[1]}`;
      if (!ranks.has(key)) ranks.set(key, ranks.size);
    }

    const { special, maxLength } = applyConfigs(files, source, { ...DEFAULT_SPECIAL }, CLIP_CONTEXT_LENGTH);
    return new CLIPTokenizer(vocab, ranks, maxLength, special, source);
  }

  /**
   * Builds a tokenizer from a Hugging Face tokenizer.json (tokenizerJson.ts): its vocabulary, merges and
   * added tokens, and the special tokens and length it states, which tokenizer_config.json and
   * special_tokens_map.json override as they do for vocab.json.
   */
  static fromTokenizerJson(files: CLIPTokenizerJsonFiles, source = 'tokenizer'): CLIPTokenizer {
    const parts = parseTokenizerJson(files.tokenizerJson, join(source, 'tokenizer.json'));
    const stated: SpecialTokens = {
      bosToken: parts.bosToken ?? DEFAULT_SPECIAL.bosToken,
      eosToken: parts.eosToken ?? DEFAULT_SPECIAL.eosToken,
      padToken: parts.padToken ?? DEFAULT_SPECIAL.padToken,
      unkToken: parts.unkToken ?? DEFAULT_SPECIAL.unkToken,
    };
    const { special, maxLength } = applyConfigs(files, source, stated, parts.maxLength ?? CLIP_CONTEXT_LENGTH);
    return new CLIPTokenizer(parts.vocab, parts.ranks, maxLength, special, source, parts.addedTokens, 'tokenizer.json');
  }

  /** The BPE tokens of a prompt (no BOS/EOS), after CLIP's clean-up. */
  tokenize(text: string): string[] {
    const tokens: string[] = [];
    for (const piece of normalizeCLIPText(text).match(this.pattern) ?? []) {
      if (this.specialTokens.has(piece)) tokens.push(piece);
      else tokens.push(...this.bpe.encode(toByteChars(piece)));
    }
    return tokens;
  }

  /** Vocabulary ids of a prompt's tokens (no BOS/EOS); tokens missing from vocab.json become unk. */
  encode(text: string): number[] {
    return this.tokenize(text).map((t) => this.vocab.get(t) ?? this.unkId);
  }

  /** The model input for a prompt: BOS + ids + EOS, truncated keeping EOS, padded to `maxLength`. */
  encodePrompt(text: string, maxLength = this.maxLength): TokenizedPrompt {
    if (!Number.isInteger(maxLength) || maxLength < 2) throw new InputError(`maxLength ${maxLength} must be an integer of at least 2`);
    const tokens = this.tokenize(text);
    const room = maxLength - 2;
    const kept = tokens.slice(0, room);
    const dropped = tokens.slice(room);
    const ids = [this.bosId, ...kept.map((t) => this.vocab.get(t) ?? this.unkId), this.eosId];
    while (ids.length < maxLength) ids.push(this.padId);
    return { ids, tokenCount: tokens.length, truncated: dropped.length > 0, droppedText: this.decodeTokens(dropped) };
  }

  /**
   * Text of ids, as CLIPTokenizer.decode renders it: word ends become spaces; BOS is skipped and
   * decoding stops at EOS, so padding after it is ignored.
   */
  decode(ids: readonly number[]): string {
    const tokens: string[] = [];
    for (const id of ids) {
      if (id === this.eosId) break;
      const token = this.idToToken.get(id);
      if (token !== undefined && id !== this.bosId) tokens.push(token);
    }
    return this.decodeTokens(tokens);
  }

  private decodeTokens(tokens: readonly string[]): string {
    // "</w>" is made of printable bytes, so it survives byte decoding and is replaced afterwards.
    return fromByteChars(tokens.join('')).replaceAll('</w>', ' ').replace(/ +/g, ' ').trim();
  }
}

/**
 * Reads a tokenizer folder (`<model>/tokenizer`): vocab.json and merges.txt, or tokenizer.json when
 * either is absent; tokenizer_config.json and special_tokens_map.json when present. Each file is read
 * as a regular file under the config size cap.
 */
export async function loadCLIPTokenizer(folder: string): Promise<CLIPTokenizer> {
  const read = async (name: string): Promise<string | undefined> => {
    const path = join(folder, name);
    try {
      return (await readFileBounded(path, READ_CAPS.config, 'tokenizer file')).toString('utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return undefined;
      const e = new ModelError(code ? `cannot be read (${code})` : `cannot be read: ${(error as Error).message}`, path);
      e.cause = error;
      throw e;
    }
  };
  const [vocabJson, mergesTxt, tokenizerConfigJson, specialTokensMapJson] = await Promise.all([
    read('vocab.json'),
    read('merges.txt'),
    read('tokenizer_config.json'),
    read('special_tokens_map.json'),
  ]);
  if (vocabJson !== undefined && mergesTxt !== undefined) {
    return CLIPTokenizer.fromFiles({ vocabJson, mergesTxt, tokenizerConfigJson, specialTokensMapJson }, folder);
  }
  const tokenizerJson = await read('tokenizer.json');
  if (tokenizerJson !== undefined) return CLIPTokenizer.fromTokenizerJson({ tokenizerJson, tokenizerConfigJson, specialTokensMapJson }, folder);
  const missing = vocabJson === undefined ? 'vocab.json' : 'merges.txt';
  throw new ModelError('is missing (a CLIP tokenizer needs vocab.json and merges.txt, or tokenizer.json)', join(folder, missing));
}
