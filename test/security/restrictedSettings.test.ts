// Issue 15, defect 2: in Restricted Mode, workspace settings (a cloned repo's .vscode/settings.json) must
// not choose where outputs go. VS Code ignores workspace values of the settings listed in
// capabilities.untrustedWorkspaces.restrictedConfigurations until the folder is trusted.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

interface Manifest {
  capabilities: { untrustedWorkspaces: { supported: string; description: string; restrictedConfigurations: string[] } };
  contributes: { configuration: { properties: Record<string, unknown> } };
}

const manifest = JSON.parse(readFileSync(join(__dirname, '../../package.json'), 'utf8')) as Manifest;

describe('Restricted Mode settings', () => {
  const trust = manifest.capabilities.untrustedWorkspaces;

  for (const setting of ['imgprompt.modelPaths', 'imgprompt.outputPattern', 'imgprompt.figureFolder']) {
    test(`${setting} is restricted (workspace values ignored until trusted)`, () => {
      assert.ok(setting in manifest.contributes.configuration.properties, `${setting} is not a contributed setting`);
      assert.ok(trust.restrictedConfigurations.includes(setting), `${setting} is not in restrictedConfigurations`);
    });
  }

  test('the capability description names every restricted setting', () => {
    for (const setting of trust.restrictedConfigurations) assert.ok(trust.description.includes(setting), `${setting} missing from: ${trust.description}`);
  });
});
