"""Exports a tiny-shapes checkpoint to models/tiny-shapes/ in the diffusers / optimum ONNX layout.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.export [--source DIR|FILE] [--out models/tiny-shapes]

Names and dtypes follow optimum's Stable Diffusion export: text_encoder input_ids (int32) ->
last_hidden_state, pooler_output; unet sample, timestep (float32 [batch]), encoder_hidden_states ->
out_sample; vae_decoder latent_sample -> sample; vae_encoder sample -> latent_sample (the posterior mean,
unscaled). Opset 17 with dynamic batch / sequence / height / width axes.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil

import torch

from . import clip_bpe
from . import scenes
from . import train
from .models import count_params

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
DIFFUSERS_VERSION = '0.25.0'
OPSET = 17


class TextEncoderOnnx(torch.nn.Module):
    def __init__(self, te):
        super().__init__()
        self.te = te

    def forward(self, input_ids):
        return self.te(input_ids)


class UNetOnnx(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states):
        return self.unet(sample, timestep, encoder_hidden_states)


class VAEDecoderOnnx(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, latent_sample):
        return self.vae.decode(latent_sample)


class VAEEncoderOnnx(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        return self.vae.encode(sample)[0]


def load_components(source: str):
    """(tokenizer, text encoder, unet, vae, scaling_factor, info) with EMA weights, from a training work
    folder or from a packed checkpoint file (see pack.py)."""
    r = train.RECIPE
    if os.path.isfile(source):
        ck = torch.load(source)
        tok = clip_bpe.Tokenizer(clip_bpe.build_vocab(ck['merges']), ck['merges'])
        te = train.TextEncoder(len(tok.vocab), **_text_kwargs(r))
        te.load_state_dict(ck['ema_text_encoder'])
        unet = train.make_unet(r)
        unet.load_state_dict(ck['ema_unet'])
        vae = train.make_vae(r)
        vae.load_state_dict(ck['vae'])
        info = {'unet_steps': ck['step'], 'unet_seconds': ck['elapsed']}
        return tok, te.eval(), unet.eval(), vae.eval(), float(ck['scaling_factor']), info
    tok = clip_bpe.Tokenizer.load(os.path.join(source, 'tokenizer'))
    ema = torch.load(os.path.join(source, 'ema.pt'))
    te = train.make_text_encoder(source, r)
    te.load_state_dict(ema['text_encoder'])
    unet = train.make_unet(r)
    unet.load_state_dict(ema['unet'])
    vae = train.load_vae(source, r)
    info = {'unet_steps': ema['step'], 'unet_seconds': ema.get('elapsed', 0.0)}
    return tok, te.eval(), unet.eval(), vae.eval(), float(ema['scaling_factor']), info


def _text_kwargs(r: dict) -> dict:
    c = r['text']
    return dict(hidden_size=c['hidden_size'], num_layers=c['num_layers'], num_heads=c['num_heads'],
                intermediate_size=c['intermediate_size'])


def _export(module, args, path, inputs, outputs, axes):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                      opset_version=OPSET, do_constant_folding=True)


def write_json(path: str, obj) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(obj, f, indent=2)
        f.write('\n')


def export(source: str, out: str) -> dict:
    tok, te, unet, vae, scaling, info = load_components(source)
    r = train.RECIPE
    d = r['text']['hidden_size']
    if os.path.isdir(out):
        for sub in ('text_encoder', 'unet', 'vae_decoder', 'vae_encoder', 'tokenizer', 'scheduler'):
            shutil.rmtree(os.path.join(out, sub), ignore_errors=True)
    os.makedirs(out, exist_ok=True)
    with torch.no_grad():
        ids = torch.tensor([tok('a red circle on the left, blue background')], dtype=torch.int32)
        _export(TextEncoderOnnx(te), (ids,), os.path.join(out, 'text_encoder', 'model.onnx'),
                ['input_ids'], ['last_hidden_state', 'pooler_output'],
                {'input_ids': {0: 'batch', 1: 'sequence'}, 'last_hidden_state': {0: 'batch', 1: 'sequence'},
                 'pooler_output': {0: 'batch'}})
        _export(UNetOnnx(unet), (torch.randn(2, 4, 16, 16), torch.tensor([500.0, 500.0]), torch.randn(2, 77, d)),
                os.path.join(out, 'unet', 'model.onnx'), ['sample', 'timestep', 'encoder_hidden_states'],
                ['out_sample'],
                {'sample': {0: 'batch', 2: 'height', 3: 'width'}, 'timestep': {0: 'batch'},
                 'encoder_hidden_states': {0: 'batch', 1: 'sequence'},
                 'out_sample': {0: 'batch', 2: 'height', 3: 'width'}})
        _export(VAEDecoderOnnx(vae), (torch.randn(1, 4, 16, 16),), os.path.join(out, 'vae_decoder', 'model.onnx'),
                ['latent_sample'], ['sample'],
                {'latent_sample': {0: 'batch', 2: 'height', 3: 'width'},
                 'sample': {0: 'batch', 2: 'height', 3: 'width'}})
        _export(VAEEncoderOnnx(vae), (torch.randn(1, 3, 128, 128),), os.path.join(out, 'vae_encoder', 'model.onnx'),
                ['sample'], ['latent_sample'],
                {'sample': {0: 'batch', 2: 'height', 3: 'width'},
                 'latent_sample': {0: 'batch', 2: 'height', 3: 'width'}})

    merges = sorted(tok.ranks, key=tok.ranks.get)
    clip_bpe.save(os.path.join(out, 'tokenizer'), merges)

    params = {'text_encoder': count_params(te), 'unet': count_params(unet),
              'vae_encoder': count_params(vae.encoder) + count_params(vae.quant_conv),
              'vae_decoder': count_params(vae.decoder) + count_params(vae.post_quant_conv)}
    buckets = [[w, h] for (w, h) in scenes.BUCKETS]
    write_json(os.path.join(out, 'model_index.json'), {
        '_class_name': 'StableDiffusionPipeline',
        '_diffusers_version': DIFFUSERS_VERSION,
        'feature_extractor': [None, None],
        'requires_safety_checker': False,
        'safety_checker': [None, None],
        'scheduler': ['diffusers', 'EulerDiscreteScheduler'],
        'text_encoder': ['transformers', 'CLIPTextModel'],
        'tokenizer': ['transformers', 'CLIPTokenizer'],
        'unet': ['diffusers', 'UNet2DConditionModel'],
        'vae': ['diffusers', 'AutoencoderKL'],
        'imgprompt': {
            'name': 'tiny-shapes',
            'native_size': list(scenes.NATIVE_SIZE),
            'buckets': buckets,
            'size_multiple': 32,
            'default_steps': 20,
            'default_guidance_scale': 7.5,
            'parameters': params,
            'vae_encoder_output': 'posterior mean (unscaled); multiply by scaling_factor',
        },
    })
    write_json(os.path.join(out, 'scheduler', 'scheduler_config.json'), {
        '_class_name': 'EulerDiscreteScheduler',
        '_diffusers_version': DIFFUSERS_VERSION,
        'beta_end': 0.012,
        'beta_schedule': 'scaled_linear',
        'beta_start': 0.00085,
        'clip_sample': False,
        'interpolation_type': 'linear',
        'num_train_timesteps': 1000,
        'prediction_type': 'epsilon',
        'set_alpha_to_one': False,
        'skip_prk_steps': True,
        'steps_offset': 1,
        'timestep_spacing': 'leading',
        'trained_betas': None,
        'use_karras_sigmas': False,
    })
    tc = te.config
    write_json(os.path.join(out, 'text_encoder', 'config.json'), {
        '_name_or_path': 'tiny-shapes/text_encoder',
        'architectures': ['CLIPTextModel'],
        'model_type': 'clip_text_model',
        'hidden_act': 'quick_gelu',
        'hidden_size': tc['hidden_size'],
        'intermediate_size': tc['intermediate_size'],
        'num_hidden_layers': tc['num_hidden_layers'],
        'num_attention_heads': tc['num_attention_heads'],
        'max_position_embeddings': tc['max_position_embeddings'],
        'vocab_size': tc['vocab_size'],
        'bos_token_id': tok.bos_id,
        'eos_token_id': tok.eos_id,
        'pad_token_id': tok.eos_id,
        'layer_norm_eps': 1e-5,
        'projection_dim': tc['hidden_size'],
        'torch_dtype': 'float32',
        'imgprompt_note': 'positions after the first EOS output the EOS hidden state',
    })
    uc = unet.config
    write_json(os.path.join(out, 'unet', 'config.json'), {
        '_class_name': 'UNet2DConditionModel',
        '_diffusers_version': DIFFUSERS_VERSION,
        'sample_size': scenes.NATIVE_SIZE[0] // 8,
        'in_channels': uc['in_channels'],
        'out_channels': uc['out_channels'],
        'block_out_channels': uc['block_out_channels'],
        'down_block_types': uc['down_block_types'],
        'up_block_types': uc['up_block_types'],
        'mid_block_type': 'UNetMidBlock2DCrossAttn',
        'cross_attention_dim': uc['cross_attention_dim'],
        'attention_head_dim': uc['attention_head_dim'],
        'layers_per_block': uc['layers_per_block'],
        'flip_sin_to_cos': True,
        'freq_shift': 0,
        'act_fn': 'silu',
        'imgprompt_norm_groups': 'GroupNorm groups = min(32, channels // 4)',
        'time_embedding_dim': uc['time_embedding_dim'],
        'use_linear_projection': True,
        'imgprompt_note': 'the time embedding also receives an attention-pooled encoder_hidden_states vector',
    })
    for name in ('vae_decoder', 'vae_encoder'):
        vc = vae.config
        write_json(os.path.join(out, name, 'config.json'), {
            '_class_name': 'AutoencoderKL',
            '_diffusers_version': DIFFUSERS_VERSION,
            'act_fn': 'silu',
            'block_out_channels': vc['block_out_channels'],
            'down_block_types': ['DownEncoderBlock2D'] * len(vc['block_out_channels']),
            'up_block_types': ['UpDecoderBlock2D'] * len(vc['block_out_channels']),
            'in_channels': 3,
            'out_channels': 3,
            'latent_channels': vc['latent_channels'],
            'layers_per_block': vc['layers_per_block'],
            'sample_size': scenes.NATIVE_SIZE[0],
            'scaling_factor': round(scaling, 6),
            'force_upcast': False,
        })
    info.update(params=params, scaling_factor=scaling, vocab_size=len(tok.vocab))
    return info


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--source', default=os.environ.get('IMGPROMPT_TRAIN_DIR',
                                                       os.path.expanduser('~/.cache/imgprompt-train')),
                    help='training work folder or packed checkpoint (tools/tiny_model/checkpoints/latest.pt)')
    ap.add_argument('--out', default=os.path.join(REPO, 'models', 'tiny-shapes'))
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_THREADS', '2')))
    info = export(args.source, args.out)
    write_json(os.path.join(HERE, 'results', 'export.json'), info)
    print(json.dumps(info, indent=2))


if __name__ == '__main__':
    main()
