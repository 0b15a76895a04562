// Text of new scenes: the New Scene command's template and the scene Insert Figure writes beside a
// Markdown document. Kept minimal on purpose: no size, sampler or steps, so the model's own defaults
// apply and a new scene checks clean. Pure, unit-tested (every template must parse without problems).
import { SCENE_DEFAULTS } from '../../engine/editor';

export interface SceneTemplateOptions {
  /** Scene name without extension; names the output PNG. */
  name: string;
  prompt?: string;
  seed: number | bigint;
  model?: string;
  purpose?: string;
}

/** A YAML double-quoted string when the text needs quoting (`: `, `#`, leading indicators), else as is. */
export function yamlScalar(text: string): string {
  const plain = /^[^\s\-?:,[\]{}#&*!|>'"%@`]/.test(text) && !/: |\s#|[\r\n]|\s$/.test(text) && !/^(true|false|null|yes|no|on|off|~|[-+.\d].*)$/i.test(text);
  return plain ? text : JSON.stringify(text);
}

export function sceneTemplate(options: SceneTemplateOptions): string {
  return [
    `# ${options.name}: what this figure shows`,
    `model: ${options.model ?? SCENE_DEFAULTS.model}`,
    `prompt: ${yamlScalar(options.prompt?.trim() || 'a red circle above a blue square, flat vector illustration')}`,
    'negative: blurry, text, watermark',
    `seed: ${options.seed}`,
    `output: ${yamlScalar(`${options.name}.png`)}`,
    `purpose: ${yamlScalar(options.purpose?.trim() || 'Why this figure exists, for readers and reviewers')}`,
    '',
  ].join('\n');
}

/** Why `name` cannot name a scene file, or undefined when it can. */
export function checkSceneName(name: string): string | undefined {
  const n = name.trim();
  if (n === '') return 'Give the scene a name';
  if (/[\\/:*?"<>|\u0000-\u001f]/.test(n)) return 'A scene name cannot contain / \\ : * ? " < > | or control characters';
  if (n === '.' || n === '..' || n.startsWith('.')) return 'A scene name cannot start with a dot';
  if (n.length > 120) return 'A scene name must be at most 120 characters';
  return undefined;
}

/** The name without a trailing `.imgprompt`, trimmed. */
export function sceneBaseName(name: string): string {
  return name.trim().replace(/\.imgprompt$/i, '');
}

/** A name derived from a prompt for Insert Figure's suggestion: `a red circle` → `a-red-circle`. */
export function slugify(text: string, maxLength = 40): string {
  const slug = text
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return slug.slice(0, maxLength).replace(/-+$/, '') || 'figure';
}

/** A random seed of six digits, easy to read and retype. */
export function randomSeed(random: () => number = Math.random): number {
  return 100000 + Math.floor(random() * 900000);
}
