// Documentation of scene keys and values for hover and completion, read from the scene format's JSON
// Schema (schemas/imgprompt.schema.json, bundled at build time): the schema is what YAML tooling shows,
// so both say the same thing. Paths name keys the way the editor features see them: `sampler`,
// `size.aspect`, `loras[].file`. Pure, unit-tested.
import schemaJson from '../../../schemas/imgprompt.schema.json';

export interface SchemaNode {
  description?: string;
  markdownDescription?: string;
  type?: string | string[];
  enum?: unknown[];
  enumDescriptions?: string[];
  default?: unknown;
  examples?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  oneOf?: SchemaNode[];
  anyOf?: SchemaNode[];
  required?: string[];
}

const schema = schemaJson as unknown as SchemaNode;

/** `loras[2].file` → `loras[].file`: documentation does not depend on the list index. */
export function genericPath(label: string): string {
  return label.replace(/\[\d+\]/g, '[]');
}

/** The schema node of a property, looking through oneOf / anyOf alternatives. */
function property(node: SchemaNode, name: string): SchemaNode | undefined {
  if (node.properties?.[name]) return node.properties[name];
  for (const alternative of [...(node.oneOf ?? []), ...(node.anyOf ?? [])]) {
    const found = property(alternative, name);
    if (found) return found;
  }
  return undefined;
}

/** The schema node at `path` (`size.aspect`, `loras[].file`, `control[]`), or undefined. */
export function schemaAt(path: string): SchemaNode | undefined {
  let node: SchemaNode | undefined = schema;
  for (const segment of genericPath(path).split('.').filter(Boolean)) {
    const list = segment.endsWith('[]');
    node = node && property(node, list ? segment.slice(0, -2) : segment);
    if (list) node = node?.items;
    if (!node) return undefined;
  }
  return node;
}

/** Keys allowed directly under `path` ('' = the scene's top level), in schema order. */
export function keysAt(path: string): string[] {
  const node = path === '' ? schema : schemaAt(path);
  if (!node) return [];
  const keys: string[] = [];
  const collect = (n: SchemaNode): void => {
    for (const k of Object.keys(n.properties ?? {})) if (!keys.includes(k)) keys.push(k);
    for (const alternative of [...(n.oneOf ?? []), ...(n.anyOf ?? [])]) collect(alternative);
  };
  collect(node);
  return keys;
}

export function description(path: string): string | undefined {
  const node = schemaAt(path);
  return node?.markdownDescription ?? node?.description;
}

/** The allowed values of an enumerated key with their one-line descriptions, in schema order. */
export function enumValues(path: string): { value: string; description?: string }[] {
  const node = schemaAt(path);
  return (node?.enum ?? []).map((v, i) => ({ value: String(v), description: node?.enumDescriptions?.[i] }));
}

function formatValue(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

/** Markdown for hovering a key: its description, allowed values or range, default and examples. */
export function keyDocumentation(path: string): string | undefined {
  const node = schemaAt(path);
  const text = node?.markdownDescription ?? node?.description;
  if (!node || !text) return undefined;
  const parts = [`**${genericPath(path)}**`, '', text];
  const values = enumValues(path);
  if (values.length) {
    parts.push('', 'Allowed values:', '');
    for (const v of values) parts.push(`- \`${v.value}\`${v.description ? ` — ${v.description}` : ''}`);
  }
  const low = node.exclusiveMinimum !== undefined ? `> ${node.exclusiveMinimum}` : node.minimum !== undefined ? `≥ ${node.minimum}` : undefined;
  const high = node.maximum !== undefined ? `≤ ${node.maximum}` : undefined;
  if (low || high) parts.push('', `Range: ${[low, high].filter(Boolean).join(', ')}`);
  if (node.default !== undefined && !(Array.isArray(node.default) && node.default.length === 0)) parts.push('', `Default: \`${formatValue(node.default)}\``);
  if (node.examples?.length) parts.push('', `Examples: ${node.examples.map((e) => `\`${formatValue(e)}\``).join(', ')}`);
  return parts.join('\n');
}

/** Markdown for hovering an enumerated value (`euler_a` under `sampler`), or undefined when not one. */
export function valueDocumentation(path: string, value: string): string | undefined {
  const entry = enumValues(path).find((v) => v.value === value);
  if (!entry) return undefined;
  return `**${genericPath(path)}: ${entry.value}**${entry.description ? `\n\n${entry.description}` : ''}`;
}
