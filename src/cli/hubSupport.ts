// What render and `models` share for hub references: settings from the environment, pulling a scene's
// references (updating its project's imgprompt.lock), and a download progress bar with rate and ETA.
import { readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { ModelError, escapeTerminalText, hubSettingsFromEnv, lockLocalFiles, pullSceneModels, readLockfile, sceneHubRefs, sceneLocalFiles, verifyLocalFiles, type HubSettings, type PullProgress, type PulledScene } from '../engine/index';
import type { CliIO } from './command';
import { cacheDir } from './renderSupport';
import { displayPath, findProjectRoot } from './sceneContext';

/** The hub settings of this process; imgprompt's download record sits in its own cache folder. */
export function cliHubSettings(env: NodeJS.ProcessEnv): HubSettings {
  return hubSettingsFromEnv(env, { imgpromptCacheDir: cacheDir(env) });
}

export function formatBytes(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const mm = String(Math.floor((s % 3600) / 60)).padStart(2, '0');
  const ss = String(s % 60).padStart(2, '0');
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

/**
 * Download progress: on a terminal a bar redrawn in place with bytes, rate and ETA; in logs (CI) one line
 * per finished file, so a log shows what was fetched without thousands of updates.
 */
export function downloadProgress(io: CliIO, now: () => number = Date.now): { update(p: PullProgress): void; done(): void } {
  let file = '';
  let started = 0;
  let last = '';
  let lastDraw = 0;
  const finish = (p: PullProgress) => {
    const seconds = Math.max((now() - started) / 1000, 1e-3);
    const line = `${p.ref}: ${p.file} ${formatBytes(p.total)} in ${seconds.toFixed(1)} s (${formatBytes(p.received / seconds)}/s)`;
    if (io.isTTY && last) io.stderr(`\r${' '.repeat(last.length)}\r`);
    io.stderr(`${escapeTerminalText(line)}\n`);
    last = '';
  };
  return {
    update(p) {
      if (p.file !== file) {
        file = p.file;
        started = now();
        lastDraw = 0;
      }
      if (p.done >= p.total) return finish(p);
      if (!io.isTTY || now() - lastDraw < 100) return;
      lastDraw = now();
      const seconds = Math.max((now() - started) / 1000, 1e-3);
      const rate = p.received / seconds;
      const width = 24;
      const filled = Math.round((p.done / p.total) * width);
      const line = `${p.file} (${p.index}/${p.count}) [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${formatBytes(p.done)}/${formatBytes(p.total)} ${formatBytes(rate)}/s ETA ${clock((p.total - p.done) / rate)}`;
      io.stderr(`\r${escapeTerminalText(line)}${' '.repeat(Math.max(0, last.length - line.length))}`);
      last = line;
    },
    done() {
      if (io.isTTY && last) io.stderr(`\r${' '.repeat(last.length)}\r`);
      last = '';
    },
  };
}

/**
 * Pulls the hub references of one scene file and says when imgprompt.lock changed; then locks the
 * scene's own model/LoRA files with what Civitai says of them (`refresh`: re-lock changed ones). With
 * `locked` nothing is added, and a project file that differs from its locked sha256 is an error.
 */
export async function pullSceneFile(file: string, io: CliIO, signal: AbortSignal, locked: boolean, refresh = false): Promise<PulledScene | undefined> {
  const text = readFileSync(file, 'utf8');
  const refs = sceneHubRefs(text);
  const projectRoot = findProjectRoot(file);
  const settings = cliHubSettings(io.env);
  let result: PulledScene | undefined;
  if (refs.length > 0) {
    const bar = downloadProgress(io);
    try {
      result = await pullSceneModels(refs, projectRoot, settings, { locked, signal, onProgress: (p) => bar.update(p), onNote: (t) => io.stderr(`${escapeTerminalText(t)}\n`) });
      if (result.lockWritten) io.stderr(`${displayPath(join(projectRoot, 'imgprompt.lock'), io.cwd)}: updated (commit it so others render the same models)\n`);
    } finally {
      bar.done();
    }
  }
  const files = sceneLocalFiles(file, text, projectRoot);
  if (files.length === 0) return result;
  if (locked) {
    const names = new Set(files.map((f) => relative(projectRoot, f).split(sep).join('/')));
    const problems = await verifyLocalFiles(readLockfile(projectRoot), projectRoot, signal, names);
    if (problems.length > 0) throw new ModelError(`${problems.map((p) => `${p.file} ${p.problem}`).join('; ')} (--locked: the project's files must be the locked bytes; \`imgprompt models pull\` re-locks them)`);
    return result;
  }
  // Civitai is asked unless offline or turned off (IMGPROMPT_CIVITAI_LOOKUP=0); its cache answers always.
  const allowNetwork = !settings.offline && io.env.IMGPROMPT_CIVITAI_LOOKUP !== '0';
  const civitai = { endpoint: settings.civitai.endpoint, cacheFile: settings.civitai.lookupCacheFile, allowNetwork };
  const local = await lockLocalFiles(projectRoot, files, { civitai, refresh, signal, onNote: (t) => io.stderr(`${escapeTerminalText(t)}\n`) });
  if (local.lockWritten) io.stderr(`${displayPath(join(projectRoot, 'imgprompt.lock'), io.cwd)}: updated with the project's own files (commit it)\n`);
  return result;
}
