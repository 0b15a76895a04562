// LoRA key names as kohya-ss and diffusers / PEFT write them, grouped into modules; everything else is
// reported as unsupported. loadLora then checks shapes and reads alpha.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { InputError } from '../../../src/engine/errors';
import { groupLoraKeys } from '../../../src/engine/lora/keyMapping';
import { loadLora } from '../../../src/engine/lora/loraFile';
import { tempDir, values, writeSafetensors } from './loraFixtures';

const { dir, cleanup } = tempDir('imgprompt-lora-keys-');
after(cleanup);

const byKey = (names: string[]) => new Map(groupLoraKeys(names).modules.map((m) => [`${m.component}:${m.key}`, m]));

describe('groupLoraKeys', () => {
  test('kohya names: lora_unet_ / lora_te_ / lora_te1_ / lora_te2_, down, up, alpha', () => {
    const q = 'lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q';
    const names = [
      `${q}.lora_down.weight`, `${q}.lora_up.weight`, `${q}.alpha`,
      'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight',
      'lora_te_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight',
      'lora_te1_text_model_encoder_layers_1_mlp_fc1.lora_down.weight',
      'lora_te1_text_model_encoder_layers_1_mlp_fc1.lora_up.weight',
      'lora_te2_text_model_encoder_layers_2_mlp_fc2.lora_down.weight',
      'lora_te2_text_model_encoder_layers_2_mlp_fc2.lora_up.weight',
    ];
    const modules = byKey(names);
    assert.equal(modules.size, 4);
    assert.deepEqual(modules.get('unet:down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q'), {
      component: 'unet',
      key: 'down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q',
      lookupKey: 'down_blocks_0_attentions_0_transformer_blocks_0_attn1_to_q',
      down: `${q}.lora_down.weight`,
      up: `${q}.lora_up.weight`,
      alpha: `${q}.alpha`,
    });
    assert.ok(modules.has('text_encoder:text_model_encoder_layers_0_self_attn_q_proj'));
    assert.ok(modules.has('text_encoder:text_model_encoder_layers_1_mlp_fc1'));
    assert.ok(modules.has('text_encoder_2:text_model_encoder_layers_2_mlp_fc2'));
    assert.deepEqual(groupLoraKeys(names).unsupported, []);
  });

  test('diffusers / PEFT names: lora_A / lora_B, base_model.model., .lora.down, attention processors', () => {
    const names = [
      'unet.down_blocks.1.attentions.0.proj_in.lora_A.weight',
      'unet.down_blocks.1.attentions.0.proj_in.lora_B.weight',
      'text_encoder.text_model.encoder.layers.0.self_attn.k_proj.lora_A.weight',
      'text_encoder.text_model.encoder.layers.0.self_attn.k_proj.lora_B.weight',
      'text_encoder_2.text_model.encoder.layers.0.self_attn.v_proj.lora.down.weight',
      'text_encoder_2.text_model.encoder.layers.0.self_attn.v_proj.lora.up.weight',
      'base_model.model.mid_block.attentions.0.proj_out.lora_A.weight',
      'base_model.model.mid_block.attentions.0.proj_out.lora_B.weight',
      'unet.up_blocks.1.attentions.0.transformer_blocks.0.attn2.processor.to_out_lora.down.weight',
      'unet.up_blocks.1.attentions.0.transformer_blocks.0.attn2.processor.to_out_lora.up.weight',
    ];
    const modules = byKey(names);
    assert.deepEqual([...modules.keys()].sort(), [
      'text_encoder:text_model.encoder.layers.0.self_attn.k_proj',
      'text_encoder_2:text_model.encoder.layers.0.self_attn.v_proj',
      'unet:down_blocks.1.attentions.0.proj_in',
      'unet:mid_block.attentions.0.proj_out',
      'unet:up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_out.0',
    ]);
    const proj = modules.get('unet:down_blocks.1.attentions.0.proj_in')!;
    assert.equal(proj.lookupKey, 'down_blocks_1_attentions_0_proj_in');
    assert.equal(proj.down, 'unet.down_blocks.1.attentions.0.proj_in.lora_A.weight');
    assert.equal(proj.up, 'unet.down_blocks.1.attentions.0.proj_in.lora_B.weight');
  });

  test('other adapter kinds and incomplete modules are unsupported, not dropped', () => {
    const names = [
      'lora_unet_mid_block_attentions_0_proj_in.hada_w1_a',
      'lora_unet_mid_block_attentions_0_proj_in.hada_w1_b',
      'lora_unet_mid_block_attentions_0_proj_out.lokr_w1',
      'lora_unet_mid_block_attentions_0_proj_out.dora_scale',
      'lora_te_text_model_encoder_layers_0_mlp_fc1.lora_down.weight', // no up
      'unet.conv_in.weight', // a full weight, not a LoRA pair
      'lora_unet_conv_in.lora_down.weight',
      'lora_unet_conv_in.lora_up.weight',
    ];
    const groups = groupLoraKeys(names);
    assert.deepEqual(groups.modules.map((m) => m.key), ['conv_in']);
    assert.deepEqual(groups.unsupported.sort(), names.slice(0, 6).sort());
  });
});

describe('loadLora', () => {
  test('reads alpha, rank and LoCon shapes; defaults alpha to the rank', async () => {
    const path = writeSafetensors(dir, 'locon.safetensors', [
      { name: 'lora_unet_conv_in.lora_down.weight', dtype: 'F16', shape: [2, 4, 3, 3], values: values(72, 3) },
      { name: 'lora_unet_conv_in.lora_up.weight', dtype: 'F16', shape: [8, 2, 1, 1], values: values(16, 4) },
      { name: 'lora_unet_conv_in.alpha', dtype: 'F32', shape: [], values: [1] },
      { name: 'unet.to_q.lora_A.weight', dtype: 'F32', shape: [3, 8], values: values(24, 5) },
      { name: 'unet.to_q.lora_B.weight', dtype: 'F32', shape: [8, 3], values: values(24, 6) },
    ]);
    const lora = await loadLora(path);
    const conv = lora.modules.find((m) => m.key === 'conv_in')!;
    assert.deepEqual({ rank: conv.rank, alpha: conv.alpha, out: conv.out, inner: conv.inner }, { rank: 2, alpha: 1, out: 8, inner: 36 });
    const q = lora.modules.find((m) => m.key === 'to_q')!;
    assert.deepEqual({ rank: q.rank, alpha: q.alpha, out: q.out, inner: q.inner }, { rank: 3, alpha: 3, out: 8, inner: 8 });
  });

  test('inconsistent shapes and non-scalar alpha are InputErrors naming the file and key', async () => {
    const bad = writeSafetensors(dir, 'rank.safetensors', [
      { name: 'unet.to_q.lora_A.weight', dtype: 'F32', shape: [3, 8], values: values(24, 1) },
      { name: 'unet.to_q.lora_B.weight', dtype: 'F32', shape: [8, 4], values: values(32, 2) },
    ]);
    await assert.rejects(loadLora(bad), (e: unknown) => e instanceof InputError && e.message.startsWith(bad) && /'to_q' has inconsistent shapes \(down \[3, 8\], up \[8, 4\]\)/.test(e.message));
    const alpha = writeSafetensors(dir, 'alpha.safetensors', [
      { name: 'lora_unet_x.lora_down.weight', dtype: 'F32', shape: [1, 2], values: [1, 2] },
      { name: 'lora_unet_x.lora_up.weight', dtype: 'F32', shape: [2, 1], values: [1, 2] },
      { name: 'lora_unet_x.alpha', dtype: 'F32', shape: [2], values: [1, 2] },
    ]);
    await assert.rejects(loadLora(alpha), (e: unknown) => e instanceof InputError && /'lora_unet_x.alpha' should hold one number/.test(e.message));
  });
});
