// Reads a parsed YAML document into a typed Scene, reporting every problem at its place: unknown keys
// (with did-you-mean), wrong types, out-of-range numbers, bad enum values and aspects. The YAML-level
// errors (syntax, indentation, duplicate keys) are parseScene's.
import { isAlias, isMap, isScalar, isSeq, type Document, type Node, type YAMLMap } from 'yaml';
import type { SceneDiagnostic, Severity, SourceRange } from '../errors';
import { suggestionSuffix } from './didYouMean';
import { LineIndex } from './sourceRange';
import { tuningOption, type TuningOptionKey } from './sceneOptions';
import type { Scene, SceneControl, SceneInit, SceneLocation, SceneLora, SceneSize } from './scene';
import { isLabelOff, LABEL_CORNERS, LABEL_LIMITS, MAX_LABEL_LENGTH } from '../watermark/visibleLabel';
import {
  AUDIENCES,
  LABEL_KEYS,
  CONTROL_KEYS,
  CONTROL_TYPES,
  INIT_KEYS,
  LIMITS,
  LORA_KEYS,
  PRECISIONS,
  RNGS,
  SAMPLERS,
  SCENE_KEYS,
  SCHEDULES,
  SEED_MAX,
  SIZE_BUDGET_KEYS,
  SIZE_PIXEL_KEYS,
  VARIANTS_KEYS,
} from './sceneSpec';
import { formatLimits, parseAspect } from './sceneValueText';
import type { NumberLimits } from './sceneSpec';

export type Value = Node | null | undefined;

/** The most entries each list of a scene may have. */
export const LIST_LIMITS: Readonly<Record<string, number>> = { loras: 16, control: 8, 'variants.seeds': 64 };

export function truncate(s: string, max = 40): string {
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

export class SceneReader {
  readonly diagnostics: SceneDiagnostic[] = [];
  readonly locations = new Map<string, SceneLocation>();
  /** The location label of each accepted variant seed, parallel to Scene.variants. */
  private readonly variantLabels: string[] = [];

  constructor(
    private readonly document: Document.Parsed,
    private readonly lines: LineIndex,
  ) {}

  report(severity: Severity, code: string, message: string, range: SourceRange): void {
    // One error per place: an unresolvable alias is not also a wrong type.
    const same = (a: SourceRange) =>
      a.start.line === range.start.line && a.start.character === range.start.character && a.end.line === range.end.line && a.end.character === range.end.character;
    if (severity === 'error' && this.diagnostics.some((d) => d.severity === 'error' && same(d.range))) return;
    this.diagnostics.push({ severity, code, message, range });
  }

  rangeOf(node: Value, fallback: SourceRange): SourceRange {
    return node?.range ? this.lines.range(node.range[0], node.range[1]) : fallback;
  }

  /** Follows an alias to its anchor; reports an alias to an anchor that does not exist. */
  deref(node: Value, fallback: SourceRange): Value {
    if (!isAlias(node)) return node;
    const target = node.resolve(this.document);
    if (!target) {
      this.report('error', 'yaml-syntax', `unknown anchor '*${node.source}'`, this.rangeOf(node, fallback));
      return undefined;
    }
    return target;
  }

  describe(node: Value): string {
    if (node === null || node === undefined) return 'nothing';
    if (isMap(node)) return 'a mapping';
    if (isSeq(node)) return 'a list';
    if (isScalar(node)) {
      const v = node.value;
      if (v === null || v === undefined) return 'nothing';
      if (typeof v === 'string') return `the text '${truncate(v)}'`;
      if (typeof v === 'number' || typeof v === 'bigint') return truncate(node.source ?? String(v));
      return truncate(String(v));
    }
    return 'an unsupported value';
  }

  /**
   * The pairs of a mapping, keyed by name. Unknown keys are reported at the key, with a suggestion;
   * every key and value is recorded in `locations` under `path.key` (or `key` at the top).
   */
  entries(map: YAMLMap, allowed: readonly string[], path: string, where: string): Map<string, Value> {
    const found = new Map<string, Value>();
    for (const pair of map.items) {
      const keyNode = pair.key as Value;
      const mapRange = this.rangeOf(map, this.lines.range(0, 0));
      const keyRange = this.rangeOf(keyNode, mapRange);
      const key = isScalar(keyNode) ? keyNode.value : undefined;
      if (typeof key !== 'string') {
        this.report('error', 'unknown-key', `${where} keys must be plain names; got ${this.describe(keyNode)}. Allowed: ${allowed.join(', ')}`, keyRange);
        continue;
      }
      if (!allowed.includes(key)) {
        this.report('error', 'unknown-key', `unknown key '${truncate(key)}' in ${where}${suggestionSuffix(key, allowed)}`, keyRange);
        continue;
      }
      if (found.has(key)) continue; // the YAML parser has reported the duplicate
      const value = pair.value as Value;
      const label = path ? `${path}.${key}` : key;
      const valueRange = value?.range ? this.rangeOf(value, keyRange) : { start: keyRange.end, end: keyRange.end };
      this.locations.set(label, { key: keyRange, value: valueRange });
      found.set(key, this.deref(value, valueRange));
    }
    return found;
  }

  valueRange(label: string): SourceRange {
    return this.locations.get(label)?.value ?? this.lines.range(0, 0);
  }

  keyRange(label: string): SourceRange {
    const loc = this.locations.get(label);
    return loc?.key ?? loc?.value ?? this.lines.range(0, 0);
  }

  wrongType(label: string, expected: string, node: Value): void {
    let hint = '';
    if (isScalar(node) && typeof node.value === 'string' && node.value.trim() !== '' && Number.isFinite(Number(node.value))) {
      hint = ' (remove the quotes)';
    } else if (isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'bigint' || typeof node.value === 'boolean')) {
      hint = expected.startsWith('text') ? ' (put it in quotes)' : '';
    }
    this.report('error', 'wrong-type', `${label} must be ${expected}; got ${this.describe(node)}${hint}`, this.valueRange(label));
  }

  string(node: Value, label: string, options: { allowEmpty?: boolean; what?: string } = {}): string | undefined {
    const what = options.what ?? 'text';
    if (!isScalar(node) || typeof node.value !== 'string') {
      this.wrongType(label, what, node);
      return undefined;
    }
    if (!options.allowEmpty && node.value.trim() === '') {
      this.report('error', 'empty-value', `${label} is empty; expected ${what}`, this.valueRange(label));
      return undefined;
    }
    return node.value;
  }

  number(node: Value, label: string, limits: NumberLimits): number | undefined {
    const allowed = formatLimits(limits);
    if (!isScalar(node) || (typeof node.value !== 'number' && typeof node.value !== 'bigint')) {
      this.wrongType(label, allowed, node);
      return undefined;
    }
    const n = Number(node.value);
    const text = node.source ?? String(node.value);
    if (limits.integer && Number.isFinite(n) && !Number.isInteger(n)) {
      this.report('error', 'not-integer', `${label} must be ${allowed}; got ${text}, which is not a whole number`, this.valueRange(label));
      return undefined;
    }
    const belowMin = limits.exclusiveMin ? n <= limits.min : n < limits.min;
    if (!Number.isFinite(n) || belowMin || n > limits.max) {
      this.report('error', 'out-of-range', `${label} must be ${allowed}; got ${text}`, this.valueRange(label));
      return undefined;
    }
    return n === 0 ? 0 : n; // no -0 in recipes
  }

  seed(node: Value, label: string): bigint | undefined {
    const allowed = `an integer from 0 to ${SEED_MAX}`;
    if (!isScalar(node) || (typeof node.value !== 'number' && typeof node.value !== 'bigint')) {
      this.wrongType(label, allowed, node);
      return undefined;
    }
    const text = node.source ?? String(node.value);
    let seed: bigint;
    if (typeof node.value === 'bigint') seed = node.value;
    else if (Number.isInteger(node.value) && Number.isSafeInteger(node.value)) seed = BigInt(node.value);
    else {
      const why = Number.isInteger(node.value) ? 'write large seeds as plain digits, without exponent or decimal point' : 'it is not a whole number';
      this.report('error', 'not-integer', `${label} must be ${allowed}; got ${text}: ${why}`, this.valueRange(label));
      return undefined;
    }
    if (seed < 0n || seed > SEED_MAX) {
      this.report('error', 'out-of-range', `${label} must be ${allowed}; got ${text}`, this.valueRange(label));
      return undefined;
    }
    return seed;
  }

  choice<T extends string>(node: Value, label: string, allowed: readonly T[], noun: string): T | undefined {
    if (!isScalar(node) || typeof node.value !== 'string') {
      this.wrongType(label, `one of ${allowed.join(', ')}`, node);
      return undefined;
    }
    const v = node.value;
    if (!(allowed as readonly string[]).includes(v)) {
      this.report('error', 'unknown-value', `unknown ${noun} '${truncate(v)}'${suggestionSuffix(v, allowed)}`, this.valueRange(label));
      return undefined;
    }
    return v as T;
  }

  map(node: Value, label: string, shape: string): YAMLMap | undefined {
    if (isMap(node)) return node;
    this.wrongType(label, `a mapping ${shape}`, node);
    return undefined;
  }

  list(node: Value, label: string, shape: string): Node[] | undefined {
    if (!isSeq(node)) {
      this.wrongType(label, `a list of ${shape}`, node);
      return undefined;
    }
    const items = node.items as Node[];
    const max = LIST_LIMITS[label];
    if (max !== undefined && items.length > max) {
      // A bounded list keeps one scene from asking for unbounded work (hashes, loads, renders).
      this.report('error', 'too-many', `${label} has ${items.length} entries; a scene may have at most ${max}`, this.valueRange(label));
      return items.slice(0, max);
    }
    return items;
  }

  /** Records a list item's range so item-level problems can point at it. */
  item(node: Value, label: string, parentRange: SourceRange): Value {
    const range = this.rangeOf(node, parentRange);
    this.locations.set(label, { value: range });
    return this.deref(node, range);
  }

  missing(label: string, key: string, what: string): void {
    this.report('error', 'missing-key', `${label} needs '${key}' (${what})`, this.keyRange(label));
  }

  // ---- the scene's sections

  size(node: Value): SceneSize | undefined {
    const map = this.map(node, 'size', '{megapixels, aspect} or {width, height}');
    if (!map) return undefined;
    const e = this.entries(map, [...SIZE_BUDGET_KEYS, ...SIZE_PIXEL_KEYS], 'size', 'size');
    const budgetKeys = SIZE_BUDGET_KEYS.filter((k) => e.has(k));
    const pixelKeys = SIZE_PIXEL_KEYS.filter((k) => e.has(k));
    if (budgetKeys.length > 0 && pixelKeys.length > 0) {
      this.report('error', 'bad-size', 'size takes either {megapixels, aspect} or {width, height}, not both', this.keyRange(`size.${pixelKeys[0]}`));
      return undefined;
    }
    if (pixelKeys.length > 0) {
      const width = e.has('width') ? this.number(e.get('width'), 'size.width', LIMITS.pixels) : undefined;
      const height = e.has('height') ? this.number(e.get('height'), 'size.height', LIMITS.pixels) : undefined;
      if (pixelKeys.length < 2) this.missing('size', pixelKeys[0] === 'width' ? 'height' : 'width', 'give both width and height, or use megapixels and aspect');
      return width !== undefined && height !== undefined ? { kind: 'pixels', width, height } : undefined;
    }
    if (budgetKeys.length === 0) {
      this.report('error', 'bad-size', 'size is empty; give {megapixels, aspect} or {width, height}', this.keyRange('size'));
      return undefined;
    }
    const size: SceneSize = { kind: 'budget' };
    let ok = true;
    if (e.has('megapixels')) {
      size.megapixels = this.number(e.get('megapixels'), 'size.megapixels', LIMITS.megapixels);
      ok &&= size.megapixels !== undefined;
    }
    if (e.has('aspect')) {
      size.aspect = this.aspect(e.get('aspect'));
      ok &&= size.aspect !== undefined;
    }
    return ok ? size : undefined;
  }

  aspect(node: Value): number | undefined {
    const label = 'size.aspect';
    const l = LIMITS.aspect;
    const allowed = `a ratio "W:H" such as "16:9" or "3:2", or a number such as 1.5 (between 1:8 and 8:1)`;
    if (isScalar(node) && (typeof node.value === 'number' || typeof node.value === 'bigint')) {
      const n = Number(node.value);
      if (Number.isFinite(n) && n >= l.min && n <= l.max) return n;
      this.report('error', 'bad-aspect', `aspect must be ${allowed}; got ${node.source ?? String(n)}`, this.valueRange(label));
      return undefined;
    }
    if (isScalar(node) && typeof node.value === 'string') {
      const n = parseAspect(node.value);
      if (n !== undefined && n >= l.min && n <= l.max) return n;
      this.report('error', 'bad-aspect', `aspect '${truncate(node.value)}' is not usable; write ${allowed}`, this.valueRange(label));
      return undefined;
    }
    this.wrongType(label, allowed, node);
    return undefined;
  }

  loras(node: Value): SceneLora[] {
    const items = this.list(node, 'loras', '{file, weight}');
    const out: SceneLora[] = [];
    items?.forEach((raw, i) => {
      const label = `loras[${i}]`;
      const map = this.map(this.item(raw, label, this.valueRange('loras')), label, '{file, weight}');
      if (!map) return;
      const e = this.entries(map, LORA_KEYS, label, label);
      const file = e.has('file') ? this.string(e.get('file'), `${label}.file`, { what: 'a path to a .safetensors file or the name of a LoRA of the model' }) : undefined;
      if (!e.has('file')) this.missing(label, 'file', 'the LoRA .safetensors path, relative to the scene');
      const weight = e.has('weight') ? this.number(e.get('weight'), `${label}.weight`, LIMITS.loraWeight) : undefined;
      if (file !== undefined && (weight !== undefined || !e.has('weight'))) out.push(weight === undefined ? { file } : { file, weight });
    });
    return out;
  }

  control(node: Value): SceneControl[] {
    const items = this.list(node, 'control', '{type, image, strength, start, end}');
    const out: SceneControl[] = [];
    items?.forEach((raw, i) => {
      const label = `control[${i}]`;
      const map = this.map(this.item(raw, label, this.valueRange('control')), label, '{type, image, strength, start, end}');
      if (!map) return;
      const e = this.entries(map, CONTROL_KEYS, label, label);
      let ok = true;
      const type = e.has('type') ? this.choice(e.get('type'), `${label}.type`, CONTROL_TYPES, 'control type') : undefined;
      if (!e.has('type')) this.missing(label, 'type', `one of ${CONTROL_TYPES.join(', ')}`);
      const image = e.has('image') ? this.string(e.get('image'), `${label}.image`, { what: 'a path to a hint image' }) : undefined;
      if (!e.has('image')) this.missing(label, 'image', 'the hint image path, relative to the scene');
      const entry: Partial<SceneControl> = { type, image };
      if (e.has('model')) {
        const model = this.string(e.get('model'), `${label}.model`, { what: 'a ControlNet reference (hf:org/name, civitai:<version>) or folder' });
        if (model === undefined) ok = false;
        else entry.model = model;
      }
      for (const [key, limits] of [['strength', LIMITS.controlStrength], ['start', LIMITS.controlStart], ['end', LIMITS.controlEnd]] as const) {
        if (!e.has(key)) continue;
        const v = this.number(e.get(key), `${label}.${key}`, limits);
        if (v === undefined) ok = false;
        else entry[key] = v;
      }
      if (entry.start !== undefined && entry.end !== undefined && entry.end < entry.start) {
        this.report('error', 'out-of-range', `${label}.end (${entry.end}) must not be before start (${entry.start})`, this.valueRange(`${label}.end`));
        ok = false;
      }
      if (ok && type !== undefined && image !== undefined) out.push(entry as SceneControl);
    });
    return out;
  }

  init(node: Value): SceneInit | undefined {
    const map = this.map(node, 'init', '{image, strength, mask}');
    if (!map) return undefined;
    const e = this.entries(map, INIT_KEYS, 'init', 'init');
    const image = e.has('image') ? this.string(e.get('image'), 'init.image', { what: 'a path to the starting image' }) : undefined;
    if (!e.has('image')) this.missing('init', 'image', 'the starting image path, relative to the scene');
    const strength = e.has('strength') ? this.number(e.get('strength'), 'init.strength', LIMITS.initStrength) : undefined;
    const mask = e.has('mask') ? this.string(e.get('mask'), 'init.mask', { what: 'a path to the mask image (white: repaint, black: keep)' }) : undefined;
    if (image === undefined || (e.has('strength') && strength === undefined) || (e.has('mask') && mask === undefined)) return undefined;
    return { image, ...(strength === undefined ? {} : { strength }), ...(mask === undefined ? {} : { mask }) };
  }

  /** `label: TEXT` or `label: {text, corner, size, opacity}`; `label: off` (or '') is false. */
  label(node: Value): Scene['label'] {
    const target = this.deref(node, this.valueRange('label'));
    if (isScalar(target) && isLabelOff(target.value)) return false;
    if (isScalar(target) && typeof target.value === 'string') {
      const text = this.string(target, 'label', { what: 'the text of the visible label' });
      return text === undefined ? undefined : { text };
    }
    const map = this.map(node, 'label', '{text, corner, size, opacity} or the label text');
    if (!map) return undefined;
    const e = this.entries(map, LABEL_KEYS, 'label', 'label');
    const out: NonNullable<Scene['label']> = {};
    if (e.has('text')) out.text = this.string(e.get('text'), 'label.text', { what: 'the text of the visible label' });
    if (e.has('corner')) out.corner = this.choice(e.get('corner'), 'label.corner', LABEL_CORNERS, 'corner');
    if (e.has('size')) out.size = this.number(e.get('size'), 'label.size', LABEL_LIMITS.size);
    if (e.has('opacity')) out.opacity = this.number(e.get('opacity'), 'label.opacity', LABEL_LIMITS.opacity);
    if (out.text !== undefined && [...out.text].length > MAX_LABEL_LENGTH) {
      this.report('error', 'out-of-range', `label.text is ${[...out.text].length} characters; at most ${MAX_LABEL_LENGTH} fit on a figure`, this.valueRange('label.text'));
      return undefined;
    }
    return out;
  }

  variants(node: Value): bigint[] | undefined {
    const map = this.map(node, 'variants', '{seeds: [...]}');
    if (!map) return undefined;
    const e = this.entries(map, VARIANTS_KEYS, 'variants', 'variants');
    if (!e.has('seeds')) {
      this.missing('variants', 'seeds', 'a list of extra seeds to render');
      return undefined;
    }
    const items = this.list(e.get('seeds'), 'variants.seeds', 'seeds');
    if (!items) return undefined;
    if (items.length === 0) this.report('warning', 'empty-value', 'variants.seeds is empty; nothing extra will be rendered', this.valueRange('variants.seeds'));
    const seeds: bigint[] = [];
    let ok = true;
    items.forEach((raw, i) => {
      const label = `variants.seeds[${i}]`;
      const seed = this.seed(this.item(raw, label, this.valueRange('variants.seeds')), label);
      if (seed === undefined) ok = false;
      else if (seeds.includes(seed)) this.report('warning', 'duplicate-seed', `seed ${seed} is listed twice`, this.valueRange(label));
      else {
        seeds.push(seed);
        this.variantLabels.push(label);
      }
    });
    return ok ? seeds : undefined;
  }

  scene(root: Value): Scene {
    const scene: Scene = { loras: [], control: [], options: {} };
    const whole = this.lines.range(0, 0);
    if (root === null || root === undefined || (isScalar(root) && root.value === null)) {
      this.report('error', 'empty-scene', `the scene is empty; it needs at least 'prompt' (and usually 'model' and 'seed')`, whole);
      return scene;
    }
    if (!isMap(root)) {
      this.report('error', 'wrong-type', `a scene must be a mapping of keys (${SCENE_KEYS.slice(0, 4).join(', ')}, ...); got ${this.describe(root)}`, this.rangeOf(root, whole));
      return scene;
    }
    const e = this.entries(root, SCENE_KEYS, '', 'the scene');
    for (const [key, node] of e) {
      switch (key) {
        case 'model':
          scene.model = this.string(node, key, { what: 'a model folder path or a model name such as tiny-shapes' });
          break;
        case 'prompt':
          scene.prompt = this.string(node, key);
          break;
        case 'negative':
          scene.negative = this.string(node, key, { allowEmpty: true });
          break;
        case 'purpose':
          scene.purpose = this.string(node, key, { allowEmpty: true, what: 'a sentence on why this figure exists' });
          break;
        case 'backend':
          scene.backend = this.string(node, key, { what: 'the name of a render server in imgprompt.backends.json' });
          break;
        case 'label':
          scene.label = this.label(node);
          break;
        case 'audience':
          scene.audience = this.choice(node, key, AUDIENCES, 'audience');
          break;
        case 'license':
          scene.license = this.string(node, key, { what: 'the model\'s licence id (SPDX or Hugging Face), e.g. openrail-m or mit' });
          break;
        case 'output':
          scene.output = this.string(node, key, { what: 'the path of the PNG to write' });
          break;
        case 'seed':
          scene.seed = this.seed(node, key);
          break;
        case 'steps':
          scene.steps = this.number(node, key, LIMITS.steps);
          break;
        case 'guidance':
          scene.guidance = this.number(node, key, LIMITS.guidance);
          break;
        case 'sampler':
          scene.sampler = this.choice(node, key, SAMPLERS, 'sampler');
          break;
        case 'schedule':
          scene.schedule = this.choice(node, key, SCHEDULES, 'schedule');
          break;
        case 'rng':
          scene.rng = this.choice(node, key, RNGS, 'rng');
          break;
        case 'precision':
          scene.precision = this.choice(node, key, PRECISIONS, 'precision');
          break;
        case 'size':
          scene.size = this.size(node);
          break;
        case 'loras':
          scene.loras = this.loras(node);
          break;
        case 'control':
          scene.control = this.control(node);
          break;
        case 'init':
          scene.init = this.init(node);
          break;
        case 'variants':
          scene.variants = this.variants(node);
          break;
        default: {
          const option = tuningOption(key);
          if (!option) break;
          const value =
            option.type === 'number' ? this.number(node, key, option.limits) : option.type === 'text' ? this.string(node, key, { allowEmpty: true }) : this.choice(node, key, option.values, key);
          if (value !== undefined) scene.options[option.key as TuningOptionKey] = value;
        }
      }
    }
    scene.variants?.forEach((seed, i) => {
      if (seed === (scene.seed ?? 0n)) {
        this.report('warning', 'duplicate-seed', `variant seed ${seed} is the scene's own seed; it is rendered once`, this.valueRange(this.variantLabels[i]));
      }
    });
    if (!e.has('prompt')) {
      this.report('error', 'missing-key', `the scene needs 'prompt' (what to draw)`, this.lines.lineRange(0));
    }
    return scene;
  }
}

