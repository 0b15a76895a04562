// The visible label a project asks for when a scene has no `label:` key: the editor's `imgprompt.label`
// setting or the CLI's IMGPROMPT_LABEL. Both are read here with one set of rules, so the same setting
// gives the same recipe (and so the same bytes) in either host. Text alone, or {text, corner, size,
// opacity} with the scene key's limits; "off", "" or false mean none.
import { isLabelOff, LABEL_CORNERS, LABEL_LIMITS, MAX_LABEL_LENGTH, type LabelCorner } from './visibleLabel';

export { isLabelOff };

/** A label as a setting gives it: omitted fields take the scene key's defaults when resolved. */
export interface LabelSetting {
  readonly text?: string;
  readonly corner?: LabelCorner;
  readonly size?: number;
  readonly opacity?: number;
}

export interface ParsedLabelSetting {
  /** Absent when the setting asks for no label (or is unusable). */
  readonly label?: LabelSetting;
  /** What was wrong, one sentence each; a setting with problems gives no label rather than a guessed one. */
  readonly problems: string[];
}

const KEYS = ['text', 'corner', 'size', 'opacity'];


function checkText(text: unknown, where: string, problems: string[]): string | undefined {
  if (typeof text !== 'string' || text.trim() === '') {
    problems.push(`${where} text must be a non-empty string`);
    return undefined;
  }
  if ([...text].length > MAX_LABEL_LENGTH) {
    problems.push(`${where} text is ${[...text].length} characters; at most ${MAX_LABEL_LENGTH} fit on a figure`);
    return undefined;
  }
  return text;
}

function checkNumber(value: unknown, name: string, limits: { min: number; max: number; integer?: boolean }, where: string, problems: string[]): number | undefined {
  const ok = typeof value === 'number' && Number.isFinite(value) && value >= limits.min && value <= limits.max && (!limits.integer || Number.isInteger(value));
  if (!ok) problems.push(`${where}.${name} must be ${limits.integer ? 'a whole number' : 'a number'} from ${limits.min} to ${limits.max}; got ${JSON.stringify(value) ?? String(value)}`);
  return ok ? value : undefined;
}

/** Reads a label setting (`where` names it in problems, e.g. "imgprompt.label"). */
export function parseLabelSetting(raw: unknown, where: string): ParsedLabelSetting {
  const problems: string[] = [];
  if (raw === undefined || raw === null || isLabelOff(raw)) return { problems };
  if (typeof raw === 'string') {
    const text = checkText(raw, where, problems);
    return text === undefined ? { problems } : { label: { text }, problems };
  }
  if (typeof raw !== 'object' || Array.isArray(raw)) return { problems: [`${where} must be the label text or an object {text, corner, size, opacity}`] };
  const entries = raw as Record<string, unknown>;
  for (const key of Object.keys(entries)) if (!KEYS.includes(key)) problems.push(`${where} has an unknown key '${key}'; expected ${KEYS.join(', ')}`);
  const label: { text?: string; corner?: LabelCorner; size?: number; opacity?: number } = {};
  if (entries.text !== undefined) label.text = checkText(entries.text, where, problems);
  if (entries.corner !== undefined) {
    if ((LABEL_CORNERS as readonly unknown[]).includes(entries.corner)) label.corner = entries.corner as LabelCorner;
    else problems.push(`${where}.corner must be one of ${LABEL_CORNERS.join(', ')}; got ${JSON.stringify(entries.corner)}`);
  }
  if (entries.size !== undefined) label.size = checkNumber(entries.size, 'size', LABEL_LIMITS.size, where, problems);
  if (entries.opacity !== undefined) label.opacity = checkNumber(entries.opacity, 'opacity', LABEL_LIMITS.opacity, where, problems);
  return problems.length > 0 ? { problems } : { label, problems };
}

/**
 * IMGPROMPT_LABEL for the CLI: the label text, or a JSON object {text, corner, size, opacity}
 * (a value starting with `{`); `off` or empty for none.
 */
export function parseLabelEnv(value: string | undefined): ParsedLabelSetting {
  if (value === undefined) return { problems: [] };
  const trimmed = value.trim();
  if (!trimmed.startsWith('{')) return parseLabelSetting(value, 'IMGPROMPT_LABEL');
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch (error) {
    return { problems: [`IMGPROMPT_LABEL starts with '{' but is not valid JSON (${error instanceof Error ? error.message : String(error)})`] };
  }
  return parseLabelSetting(parsed, 'IMGPROMPT_LABEL');
}
