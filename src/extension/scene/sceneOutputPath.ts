// Where a scene's PNG goes: its `output:` when written, else the imgprompt.outputPattern setting.
// Shared by the diagnostics ("output missing") and the renderer, so both speak of the same file. Pure.
import { basename, dirname, extname, join } from 'node:path';
import { expandOutputPattern } from '../config/settings';

export function sceneOutputPath(sceneFile: string, writtenOutput: string | undefined, pattern: string, workspaceFolder: string | undefined): string {
  if (writtenOutput !== undefined) return writtenOutput;
  const sceneDir = dirname(sceneFile);
  const sceneName = basename(sceneFile, extname(sceneFile));
  try {
    return expandOutputPattern(pattern, { sceneDir, sceneName, workspaceFolder });
  } catch {
    // A pattern that cannot apply here (no workspace folder) falls back to the engine's default.
    return join(sceneDir, `${sceneName}.png`);
  }
}
