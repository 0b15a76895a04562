// Issue 15, defect 11: control characters from PNG text, scenes and YAML keys never reach the terminal raw.
// `inspect` and `check` print them escaped (ESC as the four characters \x1b), so an ANSI or OSC sequence
// hidden in a file can neither recolour, retitle or clear the terminal nor forge extra output lines.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CliIO } from '../../src/cli/command';
import { checkCommand } from '../../src/cli/commands/check';
import { inspectCommand } from '../../src/cli/commands/inspect';
import { escapeTerminalText } from '../../src/engine/text/terminalText';
import { buildXmpPacket, XMP_KEYWORD } from '../../src/engine/output/xmpPacket';
import { encodeTextChunk } from '../../src/engine/output/pngText';
import { pngWith, tEXt } from './securityHelpers';

/** Any character a terminal may act on, other than newline (and tab, which only moves the cursor right). */
const RAW_CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

async function run(command: typeof inspectCommand, args: string[], cwd: string): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { stdout: (t) => out.push(t), stderr: (t) => err.push(t), isTTY: true, cwd, env: {} };
  const code = await command.run(args, io, new AbortController().signal);
  return { code, out: out.join(''), err: err.join('') };
}

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'imgprompt-escape-'));
}

describe('escapeTerminalText', () => {
  test('ESC, BEL, CSI and OSC sequences are shown, not obeyed', () => {
    assert.equal(escapeTerminalText('a\x1b[31mred\x1b[0m'), 'a\\x1b[31mred\\x1b[0m');
    assert.equal(escapeTerminalText('\x1b]0;pwned\x07'), '\\x1b]0;pwned\\x07');
    assert.equal(escapeTerminalText('\x9b2J \x9d8;;http://x\x9c'), '\\x9b2J \\x9d8;;http://x\\x9c');
  });

  test('every C0 and C1 control and DEL is escaped; tab kept; newline kept only in multi-line text', () => {
    for (let c = 0; c < 0xa0; c++) {
      if (c >= 0x20 && c < 0x7f) continue;
      const ch = String.fromCharCode(c);
      const keep = c === 0x09;
      assert.equal(escapeTerminalText(ch) === ch, keep, `U+${c.toString(16)}`);
      assert.doesNotMatch(escapeTerminalText(`x${ch}y`, { multiline: c === 0x0a }).replace(/\n|\t/g, ''), RAW_CONTROL);
    }
    assert.equal(escapeTerminalText('one\ntwo'), 'one\\ntwo');
    assert.equal(escapeTerminalText('one\ntwo', { multiline: true }), 'one\ntwo');
    assert.equal(escapeTerminalText('over\rwrite', { multiline: true }), 'over\\rwrite');
    assert.equal(escapeTerminalText('\x00\x7f\x85'), '\\x00\\x7f\\x85');
  });

  test('bidirectional overrides and Unicode line separators are escaped; ordinary text is untouched', () => {
    assert.equal(escapeTerminalText('abc\u202edef\u2066\u2028'), 'abc\\u202edef\\u2066\\u2028');
    const plain = 'café — 日本語 🦊 C:\\models\\x (1.2) "q"';
    assert.equal(escapeTerminalText(plain), plain);
  });
});

describe('inspect escapes what the PNG says', () => {
  test('control sequences in the infotext, keys, keywords and XMP are printed escaped', async () => {
    const dir = tempDir();
    try {
      const infotext = 'a cat\x1b[2J\x1b]0;owned\x07\nSteps: 20, Sampler: Euler\x9b1m, CFG scale: 7, Seed: 1, Key: v\x1b[0m';
      const xmp = encodeTextChunk({ keyword: XMP_KEYWORD, text: buildXmpPacket({ creatorTool: 'Tool\x1b[31m\u202e', prompt: 'x' }), chunkType: 'iTXt' });
      writeFileSync(join(dir, 'evil.png'), pngWith([tEXt('parameters', infotext), xmp, tEXt('bad\x1bkey', '{'), tEXt('prompt', '{not json\x1b')]));
      writeFileSync(join(dir, 'plain.png'), pngWith([tEXt('note\x1b[1m', 'x')]));
      writeFileSync(join(dir, 'invoke.png'), pngWith([tEXt('invokeai_metadata', JSON.stringify({ positive_prompt: 'x', 'Evil\x1b[5m key': 'v\u009b' }))]));
      const { code, out, err } = await run(inspectCommand, ['evil.png', 'plain.png', 'invoke.png', 'missing\x1b[2J.png'], dir);
      assert.equal(code, 1);
      assert.doesNotMatch(out, RAW_CONTROL, out);
      assert.doesNotMatch(err, RAW_CONTROL, err);
      assert.match(out, /prompt +a cat\\x1b\[2J\\x1b\]0;owned\\x07\n/);
      assert.match(out, /Key +v\\x1b\[0m/);
      assert.match(out, /Evil\\x1b\[5m key +v\\x9b/);
      assert.match(out, /creator tool +Tool\\x1b\[31m\\u202e/);
      assert.match(out, /text chunks: note\\x1b\[1m/);
      assert.match(err, /missing\\x1b\[2J\.png/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--json escapes C1 controls, bidi overrides and line separators that JSON.stringify leaves raw', async () => {
    const dir = tempDir();
    try {
      const prompt = 'p\x9b2J\u202e\u2028q';
      writeFileSync(join(dir, 'j.png'), pngWith([encodeTextChunk({ keyword: 'parameters', text: `${prompt}\nSteps: 1, Seed: 2, CFG scale: 3`, chunkType: 'iTXt' })]));
      const { code, out } = await run(inspectCommand, ['--json', 'j.png'], dir);
      assert.equal(code, 0);
      assert.doesNotMatch(out, RAW_CONTROL);
      const parsed = JSON.parse(out) as { metadata: { prompt: string } }[];
      assert.equal(parsed[0].metadata.prompt, prompt);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('check escapes what the scene says', () => {
  test('a YAML key and a file name with control sequences are printed escaped, one line per diagnostic', async () => {
    const dir = tempDir();
    try {
      const name = 'evil\x1b[8m.imgprompt';
      writeFileSync(join(dir, name), 'prompt: a cat\n"\x1b[2J\x1b]0;owned\x07\\nfake.imgprompt:1:1: error: forged": 1\n');
      for (const args of [[name], ['--json', name]]) {
        const { out, err } = await run(checkCommand, args, dir);
        assert.doesNotMatch(out, RAW_CONTROL, out);
        assert.doesNotMatch(err, RAW_CONTROL, err);
        if (args[0] !== '--json') {
          assert.match(out, /evil\\x1b\[8m\.imgprompt:2:1: /);
          assert.doesNotMatch(out, /^fake\.imgprompt/m);
          assert.match(out, /\\x1b\[2J\\x1b\]0;owned\\x07\\nfake/);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
