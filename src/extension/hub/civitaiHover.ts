// What Civitai knows about a local LoRA or checkpoint file, for hovers: found by the file's SHA-256
// (hashed once per path, size and mtime), looked up through the engine's cached by-hash call. The
// network is asked only in a trusted workspace with `imgprompt.civitaiLookup` on; otherwise only the
// cache answers.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { hubSettingsFromEnv, lookupCivitaiByHash, type CivitaiVersion } from '../../engine/editor';

const hashes = new Map<string, string>();

async function sha256OfFile(path: string): Promise<string> {
  const s = await stat(path);
  const key = `${path}\0${s.size}\0${s.mtimeMs}`;
  const known = hashes.get(key);
  if (known) return known;
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 4 * 1024 * 1024 })) hash.update(chunk as Buffer);
  const hex = hash.digest('hex');
  hashes.set(key, hex);
  return hex;
}

export function formatCivitaiVersion(v: CivitaiVersion): string {
  const lines = [`**Civitai**: ${v.modelName} — ${v.versionName} (version ${v.versionId}${v.air ? `, \`${v.air}\`` : ''})`, '', `- base model: ${v.baseModel || 'not stated'}`];
  if (v.trainedWords.length > 0) lines.push(`- trigger words: ${v.trainedWords.map((w) => `\`${w}\``).join(', ')}`);
  lines.push(`- licence: ${v.license ?? 'not stated'}`);
  return lines.join('\n');
}

/** Markdown about `path` from Civitai, or undefined when unknown (not looked up, or a lookup failed). */
export async function civitaiHover(path: string, engineCacheDir: string | undefined): Promise<string | undefined> {
  if (!engineCacheDir) return undefined;
  const allowNetwork = vscode.workspace.isTrusted && vscode.workspace.getConfiguration('imgprompt').get<unknown>('civitaiLookup', true) !== false;
  const settings = hubSettingsFromEnv(process.env, { imgpromptCacheDir: engineCacheDir });
  try {
    const found = await lookupCivitaiByHash(await sha256OfFile(path), { endpoint: settings.civitai.endpoint, cacheFile: join(engineCacheDir, 'civitai', 'by-hash.json'), allowNetwork });
    if (found === null) return '**Civitai**: no model version has this file';
    return found ? formatCivitaiVersion(found) : undefined;
  } catch {
    return undefined; // offline or refused: a hover is no place for an error
  }
}
