// SDXL LoRA key names: kohya-ss's SGM-named UNet modules (sd-scripts' sdxl_original_unet) map to diffusers'
// module paths by diffusers' own correspondence (_maybe_map_sgm_blocks_to_diffusers, layers_per_block 2);
// PEFT / diffusers SDXL files name text_encoder_2 by its prefix. The expected names are SDXL base's module
// paths (down_blocks.1/2 with attention, mid_block, up_blocks.0/1 with attention, up_blocks.2 without).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { groupLoraKeys } from '../../../src/engine/lora/keyMapping';
import { sgmToDiffusersLoraKey } from '../../../src/engine/lora/sgmLoraKeys';

describe('SDXL LoRA keys', () => {
  test('SGM block names -> diffusers module keys (attention, resnets, samplers, embeddings)', () => {
    const cases: [string, string][] = [
      ['input_blocks_4_1_transformer_blocks_0_attn1_to_q', 'down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q'],
      ['input_blocks_5_1_proj_in', 'down_blocks_1_attentions_1_proj_in'],
      ['input_blocks_8_1_transformer_blocks_9_ff_net_0_proj', 'down_blocks_2_attentions_1_transformer_blocks_9_ff_net_0_proj'],
      ['input_blocks_1_0_in_layers_2', 'down_blocks_0_resnets_0_conv1'],
      ['input_blocks_4_0_skip_connection', 'down_blocks_1_resnets_0_conv_shortcut'],
      ['input_blocks_3_0_op', 'down_blocks_0_downsamplers_0_conv'],
      ['input_blocks_6_0_op', 'down_blocks_1_downsamplers_0_conv'],
      ['input_blocks_0_0', 'conv_in'],
      ['middle_block_1_transformer_blocks_3_attn2_to_k', 'mid_block_attentions_0_transformer_blocks_3_attn2_to_k'],
      ['middle_block_0_emb_layers_1', 'mid_block_resnets_0_time_emb_proj'],
      ['middle_block_2_out_layers_3', 'mid_block_resnets_1_conv2'],
      ['output_blocks_0_1_transformer_blocks_0_attn1_to_out_0', 'up_blocks_0_attentions_0_transformer_blocks_0_attn1_to_out_0'],
      ['output_blocks_2_2_conv', 'up_blocks_0_upsamplers_0_conv'],
      ['output_blocks_5_2_conv', 'up_blocks_1_upsamplers_0_conv'],
      ['output_blocks_4_1_proj_out', 'up_blocks_1_attentions_1_proj_out'],
      ['output_blocks_8_0_skip_connection', 'up_blocks_2_resnets_2_conv_shortcut'],
      ['time_embed_0', 'time_embedding_linear_1'],
      ['label_emb_0_2', 'add_embedding_linear_2'],
      ['out_2', 'conv_out'],
    ];
    for (const [sgm, diffusers] of cases) assert.equal(sgmToDiffusersLoraKey(sgm), diffusers, sgm);
    assert.equal(sgmToDiffusersLoraKey('down_blocks_1_attentions_0_proj_in'), undefined, 'diffusers names are left alone');
    assert.equal(sgmToDiffusersLoraKey('input_blocks_4_1'), undefined, 'a block without a module is not a module');
  });

  test('kohya SDXL files group per encoder and look UNet modules up under diffusers names; PEFT SDXL files too', () => {
    const kohya = groupLoraKeys([
      'lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_down.weight',
      'lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.lora_up.weight',
      'lora_unet_input_blocks_4_1_transformer_blocks_0_attn1_to_q.alpha',
      'lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight',
      'lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_up.weight',
      'lora_te2_text_model_encoder_layers_31_mlp_fc2.lora_down.weight',
      'lora_te2_text_model_encoder_layers_31_mlp_fc2.lora_up.weight',
    ]);
    assert.deepEqual(kohya.unsupported, []);
    const lookups = Object.fromEntries(kohya.modules.map((m) => [m.component, m.lookupKey]));
    assert.deepEqual(lookups, {
      unet: 'down_blocks_1_attentions_0_transformer_blocks_0_attn1_to_q',
      text_encoder: 'text_model_encoder_layers_0_self_attn_q_proj',
      text_encoder_2: 'text_model_encoder_layers_31_mlp_fc2',
    });
    const peft = groupLoraKeys([
      'unet.down_blocks.2.attentions.1.transformer_blocks.5.attn2.to_v.lora_A.weight',
      'unet.down_blocks.2.attentions.1.transformer_blocks.5.attn2.to_v.lora_B.weight',
      'text_encoder_2.text_model.encoder.layers.3.self_attn.k_proj.lora_A.weight',
      'text_encoder_2.text_model.encoder.layers.3.self_attn.k_proj.lora_B.weight',
    ]);
    assert.deepEqual(Object.fromEntries(peft.modules.map((m) => [m.component, m.lookupKey])), {
      unet: 'down_blocks_2_attentions_1_transformer_blocks_5_attn2_to_v',
      text_encoder_2: 'text_model_encoder_layers_3_self_attn_k_proj',
    });
  });
});
