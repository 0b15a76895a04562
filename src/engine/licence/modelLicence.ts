// Where a model's or LoRA's licence is written down, read without loading weights: a safetensors
// file's `modelspec.license` metadata (the Stability AI model-spec convention), the Hugging Face model
// card (`license:` / `license_name:` in README.md's YAML front matter), or a `license` member of
// model_index.json. Bounded reads; a file that says nothing gives `unknown`, which callers warn about.
import { open, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { readSafetensors } from '../lora/safetensors';

export interface LicenceReading {
  /** Lower-case licence id (`creativeml-openrail-m`, `flux-1-dev-non-commercial-license`, `mit`), or `unknown`. */
  readonly id: string;
  /** Where it was read: `README.md`, `model_index.json`, `<file>.safetensors (modelspec.license)`. */
  readonly source?: string;
}

const MAX_CARD_BYTES = 512 * 1024;
const UNKNOWN: LicenceReading = { id: 'unknown' };

async function readHead(path: string, max: number): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    if (!(await handle.stat()).isFile()) return undefined;
    const buffer = Buffer.alloc(max);
    const { bytesRead } = await handle.read(buffer, 0, max, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

function normalise(id: unknown): string | undefined {
  return typeof id === 'string' && id.trim() ? id.trim().toLowerCase() : undefined;
}

/** The licence in a model card's YAML front matter; `license: other` defers to `license_name`. */
export function licenceFromModelCard(text: string): string | undefined {
  const match = /^---\r?\n([\s\S]*?)\r?\n---/.exec(text);
  if (!match) return undefined;
  let front: unknown;
  try {
    front = parseYaml(match[1], { maxAliasCount: 10 });
  } catch {
    return undefined;
  }
  if (!front || typeof front !== 'object') return undefined;
  const card = front as Record<string, unknown>;
  const id = normalise(card.license);
  return id === 'other' ? (normalise(card.license_name) ?? id) : id;
}

/** The licence of a safetensors file from its metadata (`modelspec.license`). */
export async function licenceFromSafetensors(path: string): Promise<string | undefined> {
  try {
    const file = await readSafetensors(path, { anyDtype: true, maxHeaderBytes: 64 * 1024 * 1024 });
    return normalise(file.metadata['modelspec.license']);
  } catch {
    return undefined;
  }
}

/** A LoRA (or other single file)'s licence: its modelspec metadata, else a model card beside it (`name.md`). */
export async function readFileLicence(path: string): Promise<LicenceReading> {
  if (/\.safetensors$/i.test(path)) {
    const id = await licenceFromSafetensors(path);
    if (id) return { id, source: 'modelspec.license' };
  }
  const card = await readHead(path.replace(/\.[^./\\]+$/, '.md'), MAX_CARD_BYTES);
  const id = card && licenceFromModelCard(card);
  return id ? { id, source: 'model card' } : UNKNOWN;
}

/** A model folder's licence: README.md model card, model_index.json, then any safetensors' modelspec. */
export async function readModelLicence(dir: string): Promise<LicenceReading> {
  const card = await readHead(join(dir, 'README.md'), MAX_CARD_BYTES);
  const fromCard = card && licenceFromModelCard(card);
  if (fromCard) return { id: fromCard, source: 'README.md' };
  const index = await readHead(join(dir, 'model_index.json'), MAX_CARD_BYTES);
  if (index) {
    try {
      const json = JSON.parse(index) as Record<string, unknown>;
      const imgprompt = json.imgprompt as Record<string, unknown> | undefined;
      const id = normalise(json.license) ?? normalise(imgprompt?.license);
      if (id) return { id, source: 'model_index.json' };
    } catch {
      // An unreadable model_index.json is reported by the model loader, not here.
    }
  }
  for (const sub of ['unet', 'transformer', '.']) {
    let names: string[] = [];
    try {
      names = (await readdir(join(dir, sub))).filter((n) => n.endsWith('.safetensors')).slice(0, 4);
    } catch {
      continue;
    }
    for (const name of names) {
      const id = await licenceFromSafetensors(join(dir, sub, name));
      if (id) return { id, source: `${sub === '.' ? '' : `${sub}/`}${name} (modelspec.license)` };
    }
  }
  return UNKNOWN;
}
