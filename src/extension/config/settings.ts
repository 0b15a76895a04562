// The extension's settings as one typed value: names, defaults, validation of what the user wrote, and
// the two expansions (model folders, output pattern). Pure, so every rule is unit-tested in plain Node;
// config.ts reads VS Code's configuration through it.
import { homedir } from 'node:os';
import { isAbsolute, join, normalize, resolve } from 'node:path';
import { checkOutputPattern, DEFAULT_DISCLOSURE_TEMPLATE, DEFAULT_OUTPUT_PATTERN, EXECUTION_PROVIDERS, isExecutionProviderSetting, parseLabelSetting, templateProblems, type ExecutionProviderSetting, type LabelSetting } from '../../engine/editor';

export const SETTINGS_SECTION = 'imgprompt';

export interface Settings {
  /** Folders searched, in order, for a scene's bare `model:` name (before the built-in models/). */
  modelPaths: string[];
  /** Threads for ONNX Runtime; 0 = one per physical core. */
  threads: number;
  /** The most memory (GB) the render process's loaded models may take; 0 = what the OS reports available. */
  memoryLimitGB: number;
  renderOnSave: boolean;
  /** Where a scene without `output:` writes its PNG; see OUTPUT_PATTERN_VARIABLES. */
  outputPattern: string;
  previewFollowsEditor: boolean;
  /** Where Insert Figure puts new scenes, relative to the Markdown file; '' = beside it. */
  figureFolder: string;
  /** Write each preprocessed hint image beside the output (`figure.hint-1.png`). */
  saveHints: boolean;
  /** Look up local LoRA/checkpoint files on Civitai by SHA-256 for hovers (never in Restricted Mode). */
  civitaiLookup: boolean;
  /** Embed a signed C2PA manifest in every figure. */
  c2pa: boolean;
  /** The user's C2PA certificate chain (PEM file); its key lives in secret storage. '' = the local identity. */
  c2paCertificate: string;
  /** IPTC AI Prompt Writer Name; '' = git's user.name / user.email. */
  promptWriter: string;
  /** Append a row per render to the project's prompt log. */
  promptLog: boolean;
  /** onnxruntime execution provider for local renders (`cpu`, `auto`, `cuda`, `dml`, `coreml`, `webgpu`). */
  executionProvider: ExecutionProviderSetting;
  /** The alt text Insert Figure writes: placeholders {prompt} {model} {date} {purpose} {engine}. */
  altTextTemplate: string;
  /** A caption line Insert Figure writes under the image (same placeholders); '' = none. */
  figureCaption: string;
  /** The audience of scenes without an `audience:` key. */
  defaultAudience: 'team' | 'public';
  /** Markdown images of generated figures must say "AI-generated" in their alt text (a diagnostic). */
  requireDisclosure: boolean;
  /** Globs (workspace-relative) of published documents: referencing a team figure there is a warning. */
  publishedFiles: string[];
  /** Verify warns about scenes without a `purpose:` line (as `imgprompt verify --require-purpose`). */
  requirePurpose: boolean;
  /** The visible label of scenes without a `label:` key; null = none (it changes pixels, so it is in the recipe). */
  label: LabelSetting | null;
}

export type SettingName = keyof Settings;

export const DEFAULT_SETTINGS: Readonly<Settings> = {
  modelPaths: [],
  threads: 0,
  memoryLimitGB: 0,
  renderOnSave: true,
  outputPattern: DEFAULT_OUTPUT_PATTERN,
  previewFollowsEditor: true,
  figureFolder: '',
  saveHints: false,
  civitaiLookup: true,
  c2pa: true,
  c2paCertificate: '',
  promptWriter: '',
  promptLog: true,
  executionProvider: 'cpu',
  altTextTemplate: DEFAULT_DISCLOSURE_TEMPLATE,
  figureCaption: '',
  defaultAudience: 'team',
  requireDisclosure: false,
  publishedFiles: [],
  requirePurpose: false,
  label: null,
};

export const MAX_THREADS = 256;
export const MAX_MEMORY_LIMIT_GB = 4096;

export interface SettingsReading {
  settings: Settings;
  /** One sentence per ignored value, naming the setting, what it held and what was used instead. */
  problems: string[];
}

/**
 * Validates raw configuration values (anything a settings.json can hold). A wrong value never fails:
 * the default is used and the problem is reported, because a typo in settings must not switch off the
 * language features.
 */
export function normalizeSettings(raw: Partial<Record<SettingName, unknown>>): SettingsReading {
  const problems: string[] = [];
  const settings: Settings = { ...DEFAULT_SETTINGS, modelPaths: [], publishedFiles: [] };
  const ignore = (name: SettingName, expected: string): void => {
    problems.push(`${SETTINGS_SECTION}.${name} is ${JSON.stringify(raw[name])}; expected ${expected}. Using ${JSON.stringify(DEFAULT_SETTINGS[name])}.`);
  };

  const paths = raw.modelPaths;
  if (Array.isArray(paths)) {
    for (const [i, p] of paths.entries()) {
      if (typeof p === 'string' && p.trim() !== '') settings.modelPaths.push(p.trim());
      else problems.push(`${SETTINGS_SECTION}.modelPaths[${i}] is ${JSON.stringify(p)}; expected a folder path. Ignored.`);
    }
  } else if (paths !== undefined && paths !== null) ignore('modelPaths', 'a list of folder paths');

  const threads = raw.threads;
  if (typeof threads === 'number' && Number.isInteger(threads) && threads >= 0 && threads <= MAX_THREADS) settings.threads = threads;
  else if (threads !== undefined && threads !== null) ignore('threads', `a whole number from 0 (automatic) to ${MAX_THREADS}`);

  const limit = raw.memoryLimitGB;
  if (typeof limit === 'number' && Number.isFinite(limit) && limit >= 0 && limit <= MAX_MEMORY_LIMIT_GB) settings.memoryLimitGB = limit;
  else if (limit !== undefined && limit !== null) ignore('memoryLimitGB', `a number of gigabytes from 0 (no limit) to ${MAX_MEMORY_LIMIT_GB}`);

  for (const name of ['renderOnSave', 'previewFollowsEditor', 'saveHints', 'civitaiLookup', 'c2pa', 'promptLog', 'requireDisclosure', 'requirePurpose'] as const) {
    const v = raw[name];
    if (typeof v === 'boolean') settings[name] = v;
    else if (v !== undefined && v !== null) ignore(name, 'true or false');
  }

  const pattern = raw.outputPattern;
  if (typeof pattern === 'string' && pattern.trim() !== '') {
    const problem = checkOutputPattern(pattern);
    if (problem) problems.push(`${SETTINGS_SECTION}.outputPattern: ${problem}. Using ${JSON.stringify(DEFAULT_SETTINGS.outputPattern)}.`);
    else settings.outputPattern = pattern.trim();
  } else if (pattern !== undefined && pattern !== null && pattern !== '') ignore('outputPattern', 'a path pattern such as "${sceneDir}/${sceneName}.png"');

  const figureFolder = raw.figureFolder;
  if (typeof figureFolder === 'string') settings.figureFolder = figureFolder.trim();
  else if (figureFolder !== undefined && figureFolder !== null) ignore('figureFolder', 'a folder path relative to the Markdown file');

  for (const name of ['c2paCertificate', 'promptWriter'] as const) {
    const v = raw[name];
    if (typeof v === 'string') settings[name] = name === 'c2paCertificate' ? v.trim().replace(/^~(?=$|[\\/])/, homedir()) : v.trim();
    else if (v !== undefined && v !== null) ignore(name, name === 'c2paCertificate' ? 'the path of a PEM certificate file' : 'a name');
  }
  const provider = raw.executionProvider;
  if (typeof provider === 'string' && isExecutionProviderSetting(provider)) settings.executionProvider = provider;
  else if (provider !== undefined && provider !== null) ignore('executionProvider', `one of ${EXECUTION_PROVIDERS.join(', ')}`);
  for (const name of ['altTextTemplate', 'figureCaption'] as const) {
    const template = raw[name];
    if (typeof template === 'string') {
      const bad = templateProblems(template);
      if (bad.length > 0) problems.push(`${SETTINGS_SECTION}.${name}: ${bad.join('; ')}. Using ${JSON.stringify(DEFAULT_SETTINGS[name])}.`);
      else if (name === 'figureCaption' || template.trim() !== '') settings[name] = template.trim();
    } else if (template !== undefined && template !== null) ignore(name, 'a text with {prompt}, {model}, {date}, {purpose} or {engine} placeholders');
  }

  const globs = raw.publishedFiles;
  if (Array.isArray(globs)) settings.publishedFiles = globs.filter((g): g is string => typeof g === 'string' && g.trim() !== '').map((g) => g.trim());
  else if (globs !== undefined && globs !== null) ignore('publishedFiles', "a list of globs such as ['docs/**']");

  const audience = raw.defaultAudience;
  if (audience === 'team' || audience === 'public') settings.defaultAudience = audience;
  else if (audience !== undefined && audience !== null) ignore('defaultAudience', '"team" or "public"');

  const label = parseLabelSetting(raw.label, `${SETTINGS_SECTION}.label`);
  if (label.label) settings.label = label.label;
  for (const problem of label.problems) problems.push(`${problem}. Using no label.`);

  return { settings, problems };
}

/**
 * Absolute model folders: `~` is the home folder, `${workspaceFolder}` the scene's workspace folder, and
 * other relative paths resolve against that folder (or are dropped when there is none to resolve against).
 */
export function resolveModelPaths(paths: readonly string[], workspaceFolder: string | undefined, home: string = homedir()): string[] {
  const out: string[] = [];
  for (const written of paths) {
    let p = written;
    if (p === '~' || p.startsWith('~/') || p.startsWith('~\\')) p = join(home, p.slice(1));
    if (p.includes('${workspaceFolder}')) {
      if (workspaceFolder === undefined) continue;
      p = p.split('${workspaceFolder}').join(workspaceFolder);
    }
    if (!isAbsolute(p)) {
      if (workspaceFolder === undefined) continue;
      p = resolve(workspaceFolder, p);
    }
    p = normalize(p);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

