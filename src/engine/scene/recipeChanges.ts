// Field-by-field differences between two recipes as stored in PNGs (ours: the `imgprompt` chunk), so
// `verify` can say *which* input made a figure stale and the preview can show cause beside effect.

export interface RecipeChange {
  /** The field, e.g. `prompt`, `seed`, `model.hash`, `loras[0].weight`, `engine.version`. */
  readonly field: string;
  readonly before: string | undefined;
  readonly after: string | undefined;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** Fields that do not change pixels and are left out of the comparison. */
const IGNORED = new Set(['hash', 'scene', 'purpose', 'format', 'engine.onnxruntime', 'model.shortHash']);

function show(value: Json | undefined): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/** Fields a recipe leaves out when they have their default (so older recipes keep their hashes). */
const OMITTED_DEFAULTS: Readonly<Record<string, Json>> = { precision: 'fp32' };

/** Objects a recipe leaves out when empty (tuning options all at their defaults). */
const OMITTED_WHEN_EMPTY = new Set(['options']);

function walk(path: string, a: Json | undefined, b: Json | undefined, out: RecipeChange[]): void {
  if (IGNORED.has(path)) return;
  if (OMITTED_WHEN_EMPTY.has(path)) {
    a ??= {};
    b ??= {};
  }
  if (path in OMITTED_DEFAULTS) {
    a ??= OMITTED_DEFAULTS[path];
    b ??= OMITTED_DEFAULTS[path];
  }
  const isObject = (v: Json | undefined): v is { [key: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(a) && isObject(b)) {
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) walk(path ? `${path}.${key}` : key, a[key], b[key], out);
    return;
  }
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) walk(`${path}[${i}]`, a[i], b[i], out);
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ field: path, before: show(a), after: show(b) });
}

/** The pixel-affecting fields that differ between `before` and `after`, in a stable order. */
export function recipeChanges(before: unknown, after: unknown): RecipeChange[] {
  const out: RecipeChange[] = [];
  walk('', before as Json, after as Json, out);
  return out;
}

/** One line per change, e.g. `seed: 42 → 43`, with long values shortened. */
export function describeChange(change: RecipeChange, maxLength = 60): string {
  const cut = (v: string | undefined) => (v === undefined ? '(none)' : v.length > maxLength ? `${v.slice(0, maxLength - 1)}…` : v);
  return `${change.field}: ${cut(change.before)} → ${cut(change.after)}`;
}
