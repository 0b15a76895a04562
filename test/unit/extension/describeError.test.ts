// What the user sees when a command fails, for each kind of error.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CancelledError, InputError, ModelError, SceneError, type SceneDiagnostic } from '../../../src/engine/errors';
import { describeError } from '../../../src/extension/util/describeError';
import { UserError } from '../../../src/extension/util/userError';

const diagnostic = (line: number, message: string): SceneDiagnostic => ({ severity: 'error', code: 'x', message, range: { start: { line, character: 2 }, end: { line, character: 5 } } });

describe('describeError', () => {
  test('cancellation is silent', () => {
    assert.equal(describeError(new CancelledError(), 'Render').severity, 'silent');
  });

  test('UserError keeps its severity, text and actions', () => {
    const actions = [{ title: 'Manage Workspace Trust', command: 'workbench.trust.manage' }];
    assert.deepEqual(describeError(new UserError('trust first', 'warning', actions), 'Render'), { severity: 'warning', message: 'trust first', actions, unexpected: false });
  });

  test('SceneError lists the first three problems at file:line:col and counts the rest', () => {
    const error = new SceneError('a.imgprompt', [1, 2, 3, 4, 5].map((l) => diagnostic(l, `problem ${l}`)));
    const shown = describeError(error, 'Render');
    assert.equal(shown.message, 'Render: a.imgprompt:2:3: error: problem 1; a.imgprompt:3:3: error: problem 2; a.imgprompt:4:3: error: problem 3 (and 2 more; see the Problems panel)');
    assert.equal(shown.unexpected, false);
  });

  test('ModelError and InputError name the file', () => {
    assert.equal(describeError(new ModelError('missing (every model folder needs it)', '/m/unet/config.json'), 'Render').message, 'Render: /m/unet/config.json: missing (every model folder needs it)');
    assert.equal(describeError(new InputError('not a PNG', 'x.png'), 'Import').message, 'Import: x.png: not a PNG');
  });

  test('anything else is unexpected', () => {
    assert.deepEqual(describeError(new TypeError('x is undefined'), 'New Scene'), { severity: 'error', message: 'New Scene failed unexpectedly: x is undefined', actions: [], unexpected: true });
  });
});
