// The LoRA hover reads only the safetensors header: 8-byte little-endian length + JSON (format as in the
// huggingface/safetensors README). Files are built here byte by byte, so every field is known.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatLoraSummary, readSafetensorsHeader, summarizeLora } from '../../../src/extension/hover/safetensorsHeader';

const dir = mkdtempSync(join(tmpdir(), 'imgprompt-safetensors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A safetensors file: header JSON padded with spaces to a multiple of 8, then `dataBytes` zero bytes. */
function safetensors(name: string, header: object, dataBytes: number): string {
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const path = join(dir, name);
  writeFileSync(path, Buffer.concat([length, Buffer.from(json), Buffer.alloc(dataBytes)]));
  return path;
}

describe('readSafetensorsHeader', () => {
  test('kohya metadata: rank, alpha, base model, name, targets', async () => {
    const path = safetensors('kohya.safetensors', {
      __metadata__: { ss_network_dim: '16', ss_network_alpha: '8.0', ss_base_model_version: 'sd_v1', ss_output_name: 'ink-style', ss_network_module: 'networks.lora' },
      'lora_unet_down_blocks_0_attentions_0_proj_in.lora_down.weight': { dtype: 'F16', shape: [16, 320], data_offsets: [0, 10240] },
      'lora_te_text_model_encoder_layers_0_mlp_fc1.lora_up.weight': { dtype: 'F16', shape: [3072, 16], data_offsets: [10240, 108544] },
    }, 108544);
    const reading = await readSafetensorsHeader(path);
    assert.ok(reading.ok, reading.ok ? '' : reading.reason);
    assert.equal(reading.header.tensors.size, 2);
    assert.deepEqual(summarizeLora(reading.header), {
      tensorCount: 2,
      dtypes: ['F16'],
      targets: ['UNet', 'text encoder'],
      rank: 16,
      rankSource: 'metadata',
      alpha: '8.0',
      baseModel: 'sd_v1',
      outputName: 'ink-style',
      networkModule: 'networks.lora',
    });
    const text = formatLoraSummary('loras/ink.safetensors', reading.header);
    assert.match(text, /rank 16, alpha 8\.0, patches the UNet and text encoder/);
    assert.match(text, /trained base: sd_v1/);
  });

  test('without metadata the rank comes from the down-projection shape (PEFT names)', async () => {
    const path = safetensors('peft.safetensors', { 'unet.mid_block.attn.to_q.lora_A.weight': { dtype: 'F32', shape: [4, 64], data_offsets: [0, 1024] } }, 1024);
    const reading = await readSafetensorsHeader(path);
    assert.ok(reading.ok);
    const s = summarizeLora(reading.header);
    assert.equal(s.rank, 4);
    assert.equal(s.rankSource, 'tensors');
    assert.match(formatLoraSummary('x.safetensors', reading.header), /rank 4 \(from the tensor shapes\)[\s\S]*trained base: not recorded/);
  });

  test('unreadable files say why', async () => {
    const notSafetensors = join(dir, 'text.safetensors');
    writeFileSync(notSafetensors, 'not really a safetensors file; the scene layer only checks that it exists\n');
    const short = join(dir, 'short.safetensors');
    writeFileSync(short, Buffer.from([1, 2, 3]));
    const badJson = join(dir, 'bad.safetensors');
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(4n);
    writeFileSync(badJson, Buffer.concat([len, Buffer.from('{oops')]));
    const cases: [string, RegExp][] = [
      [join(dir, 'missing.safetensors'), /^the file does not exist$/],
      [short, /^the file has 3 bytes, fewer than the 8-byte header length/],
      [notSafetensors, /^the header length \d+ is larger than the file \(74 bytes\)/],
      [badJson, /^the header is not valid JSON/],
    ];
    for (const [path, reason] of cases) {
      const reading = await readSafetensorsHeader(path);
      assert.equal(reading.ok, false, path);
      if (!reading.ok) assert.match(reading.reason, reason);
    }
  });

  test('a header beyond the read limit is refused without reading it', async () => {
    const path = safetensors('big.safetensors', { __metadata__: { note: 'x'.repeat(200) } }, 0);
    const reading = await readSafetensorsHeader(path, 64);
    assert.equal(reading.ok, false);
    if (!reading.ok) assert.match(reading.reason, /more than the 64 read for a preview/);
  });
});
