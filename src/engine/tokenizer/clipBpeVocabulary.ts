// OpenAI CLIP's own BPE vocabulary (bpe_simple_vocab_16e6.txt.gz, MIT, shipped in vocab/ with its licence):
// the tokenizer of every SD 1.x / 2.x / XL text encoder, used for single-file checkpoints, which carry
// no tokenizer. The ids follow OpenAI's simple_tokenizer.py: the 256 byte characters (in
// bytes_to_unicode's order), the same 256 with `</w>`, one id per merge (the file's lines 1..48894 after
// its header line), then `<|startoftext|>` and `<|endoftext|>`: 49,408 ids, as Hugging Face's vocab.json.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { ModelError } from '../errors';
import { READ_CAPS, readFileBounded } from '../io/readBounded';
import { BYTE_TO_CHAR } from './byteUnicode';

export const CLIP_BPE_FILE = 'bpe_simple_vocab_16e6.txt.gz';
/** simple_tokenizer.py reads merges[1 : 49152 - 256 - 2 + 1]. */
const MERGES = 49152 - 256 - 2;
/** The unpacked file is ~1.7 MB; anything far larger is not this vocabulary. */
const MAX_UNPACKED = 16 * 1024 * 1024;

/** The vocabulary in Hugging Face's tokenizer-folder form: vocab.json and merges.txt texts. */
export interface ClipVocabularyFiles {
  readonly vocabJson: string;
  readonly mergesTxt: string;
}

/** The order bytes_to_unicode lists its characters: the printable bytes first, then the shifted rest. */
function byteAlphabetInOrder(): string[] {
  const printable: string[] = [];
  const shifted: string[] = [];
  for (let b = 0; b < 256; b++) (BYTE_TO_CHAR[b].charCodeAt(0) === b ? printable : shifted).push(BYTE_TO_CHAR[b]);
  return [...printable, ...shifted];
}

/** vocab.json and merges.txt from the text of bpe_simple_vocab_16e6.txt; `source` names the file in errors. */
export function clipVocabularyFromBpe(text: string, source: string): ClipVocabularyFiles {
  const lines = text.replace(/\r\n?/g, '\n').replace(/\n+$/, '').split('\n');
  const merges = lines.slice(1, MERGES + 1);
  if (merges.length !== MERGES) throw new ModelError(`has ${merges.length} merges after its header line; CLIP's vocabulary has ${MERGES}`, source);
  const bytes = byteAlphabetInOrder();
  const tokens = [...bytes, ...bytes.map((c) => `${c}</w>`)];
  for (const [i, line] of merges.entries()) {
    const parts = line.split(' ');
    if (parts.length !== 2 || parts[0] === '' || parts[1] === '') throw new ModelError(`line ${i + 2} is ${JSON.stringify(line)}; each merge is two symbols separated by a space`, source);
    tokens.push(parts[0] + parts[1]);
  }
  tokens.push('<|startoftext|>', '<|endoftext|>');
  const vocab: Record<string, number> = {};
  for (const [id, token] of tokens.entries()) vocab[token] = id;
  if (Object.keys(vocab).length !== tokens.length) throw new ModelError('names a token twice; the ids would not be CLIP\'s', source);
  return { vocabJson: JSON.stringify(vocab), mergesTxt: `#version: 0.2\n${merges.join('\n')}\n` };
}

/** Reads and unpacks a bpe_simple_vocab_16e6.txt.gz (bounded: the packed file under the config cap, the text under 16 MB). */
export async function readClipBpeVocabulary(path: string): Promise<ClipVocabularyFiles> {
  const packed = await readFileBounded(path, READ_CAPS.config, 'CLIP vocabulary');
  let text: string;
  try {
    text = gunzipSync(packed, { maxOutputLength: MAX_UNPACKED }).toString('utf8');
  } catch (error) {
    throw new ModelError(`is not a readable gzip file of at most ${MAX_UNPACKED} bytes (${(error as Error).message})`, path);
  }
  return clipVocabularyFromBpe(text, path);
}

/**
 * The shipped vocabulary's path: vocab/bpe_simple_vocab_16e6.txt.gz in this package, found by walking up
 * from this module (out/ in the bundles, src/engine/tokenizer/ under tsx); undefined if absent.
 */
export function shippedClipBpePath(start: string = typeof __dirname === 'string' ? __dirname : process.cwd()): string | undefined {
  for (let dir = resolve(start); ; dir = dirname(dir)) {
    const path = join(dir, 'vocab', CLIP_BPE_FILE);
    if (existsSync(path)) return path;
    if (dirname(dir) === dir) return undefined;
  }
}
