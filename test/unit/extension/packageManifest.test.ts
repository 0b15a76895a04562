// package.json's contributions and the code agree: every command id is contributed with the imgprompt
// category, menus name only contributed commands, every setting has its default, and Restricted Mode
// is declared with the model paths restricted.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { COMMANDS } from '../../../src/extension/commands/commandIds';
import { DEFAULT_SETTINGS, SETTINGS_SECTION } from '../../../src/extension/config/settings';

interface Manifest {
  activationEvents: string[];
  capabilities: { untrustedWorkspaces: { supported: string; description: string; restrictedConfigurations: string[] } };
  contributes: {
    commands: { command: string; title: string; category: string }[];
    menus: Record<string, { command: string; when?: string }[]>;
    keybindings: { command: string }[];
    configuration: { properties: Record<string, { default: unknown; type: string }> };
  };
}

const manifest = JSON.parse(readFileSync('package.json', 'utf8')) as Manifest;

describe('package.json contributions', () => {
  test('commands: exactly the ids the code registers, each in the imgprompt category', () => {
    assert.deepEqual(manifest.contributes.commands.map((c) => c.command).sort(), Object.values(COMMANDS).sort());
    for (const c of manifest.contributes.commands) assert.equal(c.category, 'imgprompt', c.command);
  });

  test('menus and keybindings name contributed commands', () => {
    const ids = new Set<string>(Object.values(COMMANDS));
    for (const [menu, items] of Object.entries(manifest.contributes.menus)) for (const item of items) assert.ok(ids.has(item.command), `${menu}: ${item.command}`);
    for (const k of manifest.contributes.keybindings) assert.ok(ids.has(k.command), k.command);
  });

  test('settings: one property per setting, with the same default', () => {
    const properties = manifest.contributes.configuration.properties;
    assert.deepEqual(Object.keys(properties).sort(), Object.keys(DEFAULT_SETTINGS).map((k) => `${SETTINGS_SECTION}.${k}`).sort());
    for (const [name, value] of Object.entries(DEFAULT_SETTINGS)) assert.deepEqual(properties[`${SETTINGS_SECTION}.${name}`].default, value, name);
  });

  test('Restricted Mode: limited support, described, model paths and output locations restricted', () => {
    const trust = manifest.capabilities.untrustedWorkspaces;
    assert.equal(trust.supported, 'limited');
    assert.match(trust.description, /renders nothing/);
    assert.deepEqual(trust.restrictedConfigurations, ['imgprompt.modelPaths', 'imgprompt.outputPattern', 'imgprompt.figureFolder']);
  });

  test('activates for Markdown (image-link hovers) as well as scenes', () => {
    assert.ok(manifest.activationEvents.includes('onLanguage:markdown'));
  });
});
