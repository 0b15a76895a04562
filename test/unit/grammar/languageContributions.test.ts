// The language contributions checked against the engine's own vocabulary, so the editor cannot drift
// from the parser: every scene key is coloured as a key, every sampler/schedule/control type/RNG as a
// constant, the snippets offer exactly the allowed choices and expand to scenes the parser accepts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CONTROL_KEYS, CONTROL_TYPES, INIT_KEYS, LORA_KEYS, PRECISIONS, RNGS, SAMPLERS, SCENE_KEYS, SCHEDULES, SIZE_BUDGET_KEYS, SIZE_PIXEL_KEYS,
  VARIANTS_KEYS, parseScene,
} from '../../../src/engine/index';
import { tokenize } from './grammarTokenizer';

const root = join(__dirname, '..', '..', '..');
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

interface Snippet {
  prefix: string | string[];
  body: string[];
  description: string;
}
const snippets: Record<string, Snippet> = JSON.parse(readFileSync(join(root, 'snippets', 'imgprompt.json'), 'utf8'));

/** Expands a snippet the way VS Code does when the user accepts every default (first choice of each list). */
function expandDefaults(body: string[], variables: Record<string, string>): string {
  let text = body.join('\n');
  for (let previous = ''; previous !== text; ) {
    previous = text;
    text = text
      .replace(/\$\{\d+\|([^,|}]*)[^}]*\|\}/g, '$1')
      .replace(/\$\{\d+:([^${}]*)\}/g, '$1')
      .replace(/\$\{([A-Z_]+)\}|\$([A-Z_]+)/g, (_, braced: string | undefined, bare: string | undefined) => variables[braced ?? bare ?? ''] ?? '')
      .replace(/\$\{\d+\}|\$\d+/g, '');
  }
  return text;
}

async function scopesOf(line: string, text: string): Promise<string[]> {
  const token = (await tokenize(line)).find((t) => t.text === text);
  assert.ok(token, `${JSON.stringify(text)} is not a single token of ${JSON.stringify(line)}`);
  return token.scopes;
}

describe('language contributions in package.json', () => {
  test('the grammar, snippets and language configuration it names exist', () => {
    const grammar = manifest.contributes.grammars.find((g: { language: string }) => g.language === 'imgprompt');
    assert.equal(grammar.scopeName, 'source.imgprompt');
    assert.equal(JSON.parse(readFileSync(join(root, grammar.path), 'utf8')).scopeName, 'source.imgprompt');
    const snippetFile = manifest.contributes.snippets.find((s: { language: string }) => s.language === 'imgprompt');
    assert.ok(snippetFile && existsSync(join(root, snippetFile.path)), 'snippets/imgprompt.json is not contributed');
    const language = manifest.contributes.languages.find((l: { id: string }) => l.id === 'imgprompt');
    assert.deepEqual(language.extensions, ['.imgprompt']);
    assert.ok(existsSync(join(root, language.configuration)));
  });
});

describe('grammar vocabulary matches the engine', () => {
  test('every key the parser knows is a known key', async () => {
    const keys = new Set([...SCENE_KEYS, ...SIZE_BUDGET_KEYS, ...SIZE_PIXEL_KEYS, ...LORA_KEYS, ...CONTROL_KEYS, ...INIT_KEYS, ...VARIANTS_KEYS]);
    for (const key of keys) {
      assert.ok((await scopesOf(`${key}: x`, key)).includes('support.type.property-name.imgprompt'), `key ${key}`);
    }
  });

  test('every sampler, schedule, control type, RNG and precision the parser allows is a constant', async () => {
    const enums: Array<[string, readonly string[], string]> = [
      ['sampler', SAMPLERS, 'constant.language.sampler.imgprompt'],
      ['schedule', SCHEDULES, 'constant.language.schedule.imgprompt'],
      ['type', CONTROL_TYPES, 'constant.language.control-type.imgprompt'],
      ['rng', RNGS, 'constant.language.rng.imgprompt'],
      ['precision', PRECISIONS, 'constant.language.precision.imgprompt'],
    ];
    for (const [key, values, scope] of enums) {
      for (const value of values) assert.ok((await scopesOf(`${key}: ${value}`, value)).includes(scope), `${key}: ${value}`);
    }
  });
});

describe('snippets', () => {
  test('each snippet has a prefix and a description', () => {
    assert.deepEqual(Object.keys(snippets).sort(), ['Control hint', 'LoRA', 'Scene']);
    for (const [name, snippet] of Object.entries(snippets)) {
      assert.ok(snippet.prefix.length > 0 && snippet.description.length > 20, name);
    }
  });

  test('the choices offered are exactly the allowed values', () => {
    const choices = (snippet: Snippet, key: string): string[] => {
      const line = snippet.body.find((l) => l.trimStart().replace(/^- /, '').startsWith(`${key}:`));
      const match = line?.match(/\$\{\d+\|([^|]*)\|\}/);
      assert.ok(match, `no choice for ${key}`);
      return match[1].split(',');
    };
    assert.deepEqual(choices(snippets.Scene, 'sampler').sort(), [...SAMPLERS].sort());
    assert.deepEqual(choices(snippets.Scene, 'schedule').sort(), [...SCHEDULES].sort());
    assert.deepEqual(choices(snippets['Control hint'], 'type').sort(), [...CONTROL_TYPES].sort());
  });

  test('the Scene snippet with its defaults is a scene the parser accepts', () => {
    const text = expandDefaults(snippets.Scene.body, { RANDOM: '123456', TM_FILENAME_BASE: 'figure' });
    const parsed = parseScene(text);
    const errors = parsed.diagnostics.filter((d) => d.severity === 'error');
    assert.deepEqual(errors, [], text);
    assert.equal(parsed.scene.sampler, SAMPLERS.find((s) => s === 'euler_a'));
    assert.equal(parsed.scene.seed, 123456n);
    assert.equal(parsed.scene.output, 'figure.png');
  });

  test('LoRA and Control hint items, indented under their lists, parse as one entry each', () => {
    const indent = (body: string[]): string => body.map((line) => `  ${line}`).join('\n');
    const lora = expandDefaults(snippets.LoRA.body, {});
    const control = expandDefaults(snippets['Control hint'].body, {});
    const text = `prompt: x\nloras:\n${indent(lora.split('\n'))}\ncontrol:\n${indent(control.split('\n'))}\n`;
    const parsed = parseScene(text);
    assert.deepEqual(parsed.diagnostics.filter((d) => d.severity === 'error'), [], text);
    assert.equal(parsed.scene.loras?.length, 1);
    assert.equal(parsed.scene.loras?.[0].weight, 0.8);
    assert.equal(parsed.scene.control?.[0].type, 'canny');
  });
});
