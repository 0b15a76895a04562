// The human-readable AI disclosure that goes where a figure is used: the alt text (and an optional
// caption) of a Markdown image. A template with placeholders, so a project can word it its own way; a
// marker phrase that verify looks for in the alt text of every reference to a generated figure.

/** The default alt text: what the figure shows, then that it is AI-generated, by which model, when. */
export const DEFAULT_DISCLOSURE_TEMPLATE = '{prompt} (AI-generated image, {model}, {date})';
/** The default caption written under the image when captions are on. */
export const DEFAULT_CAPTION_TEMPLATE = '*AI-generated with {model} on {date}: {purpose}*';
/** What verify looks for (case-insensitive) in the alt text of a generated figure. */
export const DEFAULT_DISCLOSURE_MARKER = 'AI-generated';

export interface DisclosureFacts {
  readonly prompt: string;
  readonly model: string;
  /** ISO date (YYYY-MM-DD). */
  readonly date: string;
  readonly purpose?: string;
  readonly engine?: string;
}

const PLACEHOLDERS = ['prompt', 'model', 'date', 'purpose', 'engine'] as const;

/** Unknown `{names}` in a template, to report instead of writing them literally. */
export function templateProblems(template: string): string[] {
  return [...template.matchAll(/\{([^{}]*)\}/g)].map((m) => m[1]).filter((name) => !(PLACEHOLDERS as readonly string[]).includes(name)).map((name) => `unknown placeholder {${name}} (allowed: ${PLACEHOLDERS.map((p) => `{${p}}`).join(', ')})`);
}

/** The template with its placeholders filled; whitespace collapsed to single spaces (one line of alt text). */
export function formatDisclosure(template: string, facts: DisclosureFacts): string {
  const value = (name: string): string => {
    const v = (facts as unknown as Record<string, string | undefined>)[name];
    return v === undefined ? '' : v;
  };
  return template
    .replace(/\{(prompt|model|date|purpose|engine)\}/g, (_m, name: string) => value(name))
    .replace(/\s+/g, ' ')
    .replace(/\(\s*,\s*|,\s*\)/g, (m) => (m.startsWith('(') ? '(' : ')'))
    .trim();
}

/** Whether `alt` carries the disclosure marker (case-insensitive; hyphen, space or none between words). */
export function hasDisclosure(alt: string, marker = DEFAULT_DISCLOSURE_MARKER): boolean {
  const words = marker.trim().split(/[\s-]+/).filter(Boolean).map((w) => w.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  if (words.length === 0) return true;
  return new RegExp(words.join('[\\s-]*'), 'i').test(alt);
}

/** Today's date as YYYY-MM-DD (UTC), for templates. */
export function isoDate(now = new Date()): string {
  return now.toISOString().slice(0, 10);
}
