// Issue 15, item 13: a scene saved with CR-only line endings (classic Mac OS) read as one long line and got
// "this line is indented more than the key above it", which says nothing about the real cause. The yaml
// library breaks lines only at LF, while VS Code (and YAML 1.2) also treat a lone CR as a line end.
//
// parseScene reads a lone CR as a line end (same length, so ranges hold) and warns about it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseScene } from '../../src/engine/scene/parseScene';

const LF = 'prompt: a red fox\nseed: 5\nsteps: 20\n';
const CR = LF.replace(/\n/g, '\r');

describe('CR-only line endings', () => {
  test(
    'a scene with CR-only line endings reads like its LF twin, with one warning naming the line endings',
    () => {
      const lf = parseScene(LF);
      const cr = parseScene(CR);
      assert.deepEqual(lf.diagnostics, []);
      assert.deepEqual(cr.scene, lf.scene);
      const messages = cr.diagnostics.map((d) => `${d.severity} ${d.range.start.line}: ${d.message}`);
      assert.equal(messages.length, 1, messages.join('\n'));
      assert.match(messages[0], /^warning 0: .*line endings/i);
    },
  );

  test(
    'a YAML error in a CR-only scene is the error its LF twin gets, on the same line',
    () => {
      const broken = 'prompt: a cat\nsteps: [\n';
      const errors = (text: string): string[] => parseScene(text).diagnostics.filter((d) => d.severity === 'error').map((d) => `${d.range.start.line}: ${d.message}`);
      assert.deepEqual(errors(broken.replace(/\n/g, '\r')), errors(broken));
    },
  );
});
