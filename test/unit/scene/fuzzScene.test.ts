// Fuzzing the scene layer: thousands of random and mutated documents (seeded, so failures reproduce)
// must only ever produce diagnostics with valid ranges, or a SceneError; never another exception.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { analyzeScene, resolveScene, SceneError, type SceneDiagnostic } from '../../../src/engine/index';
import { mulberry32 } from '../prng';

const fixtures = resolve(__dirname, '../../fixtures');
const scenesDir = join(fixtures, 'scenes');
const context = { file: join(scenesDir, 'fuzz.imgprompt'), projectRoot: scenesDir, modelSearchPaths: [join(fixtures, 'models')] };

const prng = mulberry32;

const KEYS = ['model', 'prompt', 'negative', 'seed', 'size', 'sampler', 'schedule', 'steps', 'guidance', 'loras', 'control', 'init', 'rng', 'output', 'variants', 'purpose', 'megapixels', 'aspect', 'width', 'height', 'file', 'weight', 'type', 'image', 'strength', 'start', 'end', 'seeds', 'smapler', '<<', '? x', '"quoted"', ''];
const SCALARS = ['tiny-shapes', 'sd15', 'broken-unet', './nowhere', '../../../x', '/abs/path.png', 'a red circle', '"7.5"', "'x'", '7.5', '-1', '0', '1e400', '.inf', '.nan', '-.inf', '0x1F', '0o17', '18446744073709551615', '18446744073709551616', '99999999999999999999999999', '1.5', 'true', 'null', '~', '', '"16:9"', '3:2', '0:0', '"1:0"', 'euler_a', 'karras', 'canny', 'assets/hint.png', 'assets/style.safetensors', 'out.png', '[]', '{}', '[1, 2.5, x]', '{a: 1}', '&a 3', '*a', '*missing', '!!str 5', '!!binary aGk=', '!custom x', '|\n  block', '>-\n  folded', '"\\u0000"', '"\\ud800"', '🟥', '\t'];
const NOISE = [':', '-', ' ', '  ', '\n', '\t', '[', ']', '{', '}', ',', '"', "'", '#', '&', '*', '!', '|', '>', '%', '@', '`', '?', '\r', '\r\n', '\u00a0', '\ufeff', '---', '...', '🟥', 'é', '\\'];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function randomValue(r: () => number, depth: number): string {
  const roll = r();
  const indent = '  '.repeat(depth + 1);
  if (depth < 3 && roll < 0.15) return `\n${Array.from({ length: 1 + Math.floor(r() * 3) }, () => `${indent}${pick(r, KEYS)}: ${randomValue(r, depth + 1)}`).join('\n')}`;
  if (depth < 3 && roll < 0.25) return `\n${Array.from({ length: 1 + Math.floor(r() * 3) }, () => `${indent}- ${pick(r, KEYS)}: ${randomValue(r, depth + 1)}`).join('\n')}`;
  if (roll < 0.32) return `{${pick(r, KEYS)}: ${pick(r, SCALARS)}, ${pick(r, KEYS)}: ${pick(r, SCALARS)}}`;
  return pick(r, SCALARS);
}

function randomDocument(r: () => number): string {
  const lines = Array.from({ length: Math.floor(r() * 10) }, () => `${pick(r, KEYS)}: ${randomValue(r, 0)}`);
  if (r() < 0.5) lines.unshift('prompt: a red circle');
  return lines.join(r() < 0.1 ? '\r\n' : '\n');
}

function mutate(r: () => number, text: string): string {
  let t = text;
  const n = 1 + Math.floor(r() * 4);
  for (let i = 0; i < n; i++) {
    const at = Math.floor(r() * (t.length + 1));
    const op = r();
    if (op < 0.3) t = t.slice(0, at) + pick(r, NOISE) + t.slice(at);
    else if (op < 0.55) t = t.slice(0, at) + t.slice(at + 1 + Math.floor(r() * 8));
    else if (op < 0.7) {
      const lines = t.split('\n');
      const j = Math.floor(r() * lines.length);
      lines.splice(Math.floor(r() * lines.length), 0, lines[j]);
      t = lines.join('\n');
    } else if (op < 0.85) {
      const lines = t.split('\n');
      const j = Math.floor(r() * lines.length);
      lines[j] = (r() < 0.5 ? ' ' : '') + lines[j].replace(/^ /, r() < 0.5 ? '' : '   ');
      t = lines.join('\n');
    } else t = t.slice(0, at) + pick(r, SCALARS) + t.slice(at);
  }
  return t;
}

function assertWellFormed(text: string, diagnostics: SceneDiagnostic[]): void {
  const lineCount = text.split(/\r\n|\r|\n/).length;
  for (const d of diagnostics) {
    assert.ok(['error', 'warning', 'info'].includes(d.severity), d.severity);
    assert.ok(d.message.length > 0 && d.code.length > 0);
    const { start, end } = d.range;
    for (const p of [start, end]) assert.ok(Number.isInteger(p.line) && p.line >= 0 && p.line < lineCount && p.character >= 0, JSON.stringify(d));
    assert.ok(start.line < end.line || (start.line === end.line && start.character <= end.character), JSON.stringify(d));
  }
}

function exercise(text: string): void {
  try {
    const analysis = analyzeScene(text, context);
    assertWellFormed(text, analysis.diagnostics);
    if (analysis.diagnostics.some((d) => d.severity === 'error')) assert.equal(analysis.resolved, undefined);
  } catch (error) {
    throw new Error(`analyzeScene threw on ${JSON.stringify(text)}: ${error instanceof Error ? error.stack : String(error)}`);
  }
  try {
    resolveScene(text, context);
  } catch (error) {
    if (!(error instanceof SceneError)) throw new Error(`resolveScene threw ${String(error)} on ${JSON.stringify(text)}`);
  }
}

test('2000 random documents give only located diagnostics', () => {
  const r = prng(0x1a2b3c);
  for (let i = 0; i < 2000; i++) exercise(randomDocument(r));
});

test('2000 mutations of the fixtures and samples give only located diagnostics', () => {
  const r = prng(0xdecade);
  const samplesDir = resolve(__dirname, '../../../samples');
  const seeds = [
    ...readdirSync(scenesDir).filter((f) => f.endsWith('.imgprompt')).map((f) => readFileSync(join(scenesDir, f), 'utf8')),
    ...readdirSync(samplesDir).filter((f) => f.endsWith('.imgprompt')).map((f) => readFileSync(join(samplesDir, f), 'utf8')),
  ];
  assert.ok(seeds.length > 10);
  for (let i = 0; i < 2000; i++) exercise(mutate(r, pick(r, seeds)));
});
