"""The model folder's non-weight files, shared by make_model.py (optimum ONNX layout) and
make_checkpoints.py (diffusers safetensors layout): model_index.json, the component configs with SD 1.5's
published values, the scheduler config, and a 49,408-token byte-level BPE tokenizer with CLIP's id layout.
Standard library only (plus tools/tiny_model/clip_bpe.py's byte table)."""
from __future__ import annotations

import json
import os
import random

from tools.tiny_model.clip_bpe import BOS, BYTE_ENCODER, EOS

from . import sd15

DIFFUSERS_VERSION = '0.25.0'


def write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')


# ------------------------------------------------------------------------------------------ tokenizer

def synthetic_merges(count: int, seed: int) -> list[tuple[str, str]]:
    """`count` valid byte-level BPE merges over lower-case letters: each joins two tokens that already
    exist (a word-internal head with a head or a word-final `</w>` token) into a new token of at most
    ten letters. Not CLIP's merges, but the vocabulary has CLIP's size and structure."""
    rng = random.Random(seed)
    letters = 'abcdefghijklmnopqrstuvwxyz'
    heads = list(letters)
    finals = [c + '</w>' for c in letters]
    known = set(BYTE_ENCODER.values()) | {v + '</w>' for v in BYTE_ENCODER.values()}
    merges: list[tuple[str, str]] = []
    while len(merges) < count:
        # Prefer short pieces so common letter sequences get merged early, as real BPE does.
        a = heads[min(int(rng.expovariate(1 / 300)), len(heads) - 1)]
        pool = finals if rng.random() < 0.5 else heads
        b = pool[min(int(rng.expovariate(1 / 300)), len(pool) - 1)]
        merged = a + b
        if merged in known or len(merged.replace('</w>', '')) > 10:
            continue
        known.add(merged)
        merges.append((a, b))
        (finals if merged.endswith('</w>') else heads).append(merged)
    return merges


def write_tokenizer(folder: str, vocab_size: int, seed: int) -> None:
    os.makedirs(folder, exist_ok=True)
    base = list(BYTE_ENCODER.values())
    merges = synthetic_merges(vocab_size - 2 * len(base) - 2, seed)
    tokens = base + [b + '</w>' for b in base] + [a + b for a, b in merges] + [BOS, EOS]
    assert len(tokens) == vocab_size and len(set(tokens)) == vocab_size
    with open(os.path.join(folder, 'vocab.json'), 'w', encoding='utf-8') as f:
        json.dump({t: i for i, t in enumerate(tokens)}, f, ensure_ascii=False)
    with open(os.path.join(folder, 'merges.txt'), 'w', encoding='utf-8') as f:
        f.write('#version: 0.2\n')
        f.writelines(f'{a} {b}\n' for a, b in merges)

    def added(content: str) -> dict:
        return {'__type': 'AddedToken', 'content': content, 'lstrip': False, 'normalized': True,
                'rstrip': False, 'single_word': False}

    write_json(os.path.join(folder, 'tokenizer_config.json'), {
        'add_prefix_space': False, 'bos_token': added(BOS), 'do_lower_case': True, 'eos_token': added(EOS),
        'errors': 'replace', 'model_max_length': 77, 'name_or_path': 'openai/clip-vit-large-patch14',
        'pad_token': '<|endoftext|>', 'special_tokens_map_file': None, 'tokenizer_class': 'CLIPTokenizer',
        'unk_token': added(EOS)})
    write_json(os.path.join(folder, 'special_tokens_map.json'), {
        'bos_token': BOS, 'eos_token': EOS, 'pad_token': EOS, 'unk_token': EOS})


# ------------------------------------------------------------------------------------------ configs

def write_configs(root: str, c: dict, vae_dirs: tuple[str, ...] = ('vae_decoder', 'vae_encoder')) -> None:
    """model_index.json and every component's config; the VAE config goes into each of `vae_dirs`
    (optimum's ONNX layout splits the VAE in two; a diffusers folder has one `vae`)."""
    write_json(os.path.join(root, 'model_index.json'), {
        '_class_name': 'StableDiffusionPipeline', '_diffusers_version': DIFFUSERS_VERSION,
        'feature_extractor': [None, None], 'requires_safety_checker': False, 'safety_checker': [None, None],
        'scheduler': ['diffusers', 'PNDMScheduler'], 'text_encoder': ['transformers', 'CLIPTextModel'],
        'tokenizer': ['transformers', 'CLIPTokenizer'], 'unet': ['diffusers', 'UNet2DConditionModel'],
        'vae': ['diffusers', 'AutoencoderKL']})
    # SD 1.5's scheduler_config.json.
    write_json(os.path.join(root, 'scheduler', 'scheduler_config.json'), {
        '_class_name': 'PNDMScheduler', '_diffusers_version': DIFFUSERS_VERSION, 'beta_end': 0.012,
        'beta_schedule': 'scaled_linear', 'beta_start': 0.00085, 'clip_sample': False,
        'num_train_timesteps': 1000, 'prediction_type': 'epsilon', 'set_alpha_to_one': False,
        'skip_prk_steps': True, 'steps_offset': 1, 'timestep_spacing': 'leading', 'trained_betas': None})
    t = c['text']
    write_json(os.path.join(root, 'text_encoder', 'config.json'), {
        '_name_or_path': 'sd15-random/text_encoder', 'architectures': ['CLIPTextModel'], 'attention_dropout': 0.0,
        'bos_token_id': 0, 'dropout': 0.0, 'eos_token_id': 2, 'hidden_act': 'quick_gelu',
        'hidden_size': t['hidden_size'], 'initializer_factor': 1.0, 'initializer_range': 0.02,
        'intermediate_size': t['intermediate_size'], 'layer_norm_eps': 1e-05,
        'max_position_embeddings': t['max_position_embeddings'], 'model_type': 'clip_text_model',
        'num_attention_heads': t['num_attention_heads'], 'num_hidden_layers': t['num_hidden_layers'],
        'pad_token_id': 1, 'projection_dim': t['hidden_size'], 'torch_dtype': 'float32',
        'vocab_size': t['vocab_size']})
    u = c['unet']
    write_json(os.path.join(root, 'unet', 'config.json'), {
        '_class_name': 'UNet2DConditionModel', '_diffusers_version': DIFFUSERS_VERSION, 'act_fn': 'silu',
        'attention_head_dim': u['attention_head_dim'], 'block_out_channels': u['block_out_channels'],
        'center_input_sample': False, 'cross_attention_dim': u['cross_attention_dim'],
        'down_block_types': sd15.DOWN_BLOCK_TYPES, 'downsample_padding': 1, 'dual_cross_attention': False,
        'flip_sin_to_cos': True, 'freq_shift': 0, 'in_channels': 4, 'layers_per_block': u['layers_per_block'],
        'mid_block_scale_factor': 1, 'mid_block_type': 'UNetMidBlock2DCrossAttn', 'norm_eps': 1e-05,
        'norm_num_groups': u['norm_num_groups'], 'only_cross_attention': False, 'out_channels': 4,
        'sample_size': u['sample_size'], 'up_block_types': sd15.UP_BLOCK_TYPES, 'upcast_attention': False,
        'use_linear_projection': False})
    v = c['vae']
    vae = {
        '_class_name': 'AutoencoderKL', '_diffusers_version': DIFFUSERS_VERSION, 'act_fn': 'silu',
        'block_out_channels': v['block_out_channels'], 'down_block_types': ['DownEncoderBlock2D'] * 4,
        'in_channels': 3, 'latent_channels': v['latent_channels'], 'layers_per_block': v['layers_per_block'],
        'norm_num_groups': v['norm_num_groups'], 'out_channels': 3, 'sample_size': v['sample_size'],
        'scaling_factor': v['scaling_factor'], 'up_block_types': ['UpDecoderBlock2D'] * 4}
    for d in vae_dirs:
        write_json(os.path.join(root, d, 'config.json'), vae)
