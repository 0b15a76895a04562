"""Seeded random weights with Stable Diffusion 2.x's architecture at toy size, written as the three files
users have, from the same modules (same seed, same weights):

    python3 -m tools.sd15_random.make_sd2_toy --out DIR [--seed N] [--inpaint]

(from the repository root, OMP_WAIT_POLICY=PASSIVE) writes

    DIR/onnx/                 optimum's ONNX layout: text_encoder, unet, vae_decoder, vae_encoder exported by
                              torch, configs, scheduler, tokenizer (the reference a conversion is compared with)
    DIR/sd2-toy.safetensors   the single-file LDM layout, float32: model.diffusion_model.*, first_stage_model.*,
                              cond_stage_model.model.* (open_clip's text tower, every block)
    DIR/diffusers/            unet/, vae/, text_encoder/ (transformers' CLIPTextModel names, one block fewer),
                              tokenizer/, scheduler/, model_index.json
    DIR/reference.json        torch's eager text-encoder outputs (ln_final of the penultimate block and its
                              end-of-text row) for a few id rows
    DIR/sd2_toy.json          what made them

SD 2.x's differences from SD 1.5, kept at toy size: the OpenCLIP text tower (exact GELU, fused attention
projections, text_projection, the penultimate block's output through ln_final conditions the UNet; pad id 0
'!'), 64-wide heads in the UNet (a head count per level), linear proj_in / proj_out, cross-attention as
wide as the text tower, SD 2.1's DDIM scheduler config with v-prediction. --inpaint makes the UNet take
9 input channels (latents, mask, masked-image latents; SD 2's inpainting model: epsilon prediction).
The tokenizer is OpenAI CLIP's vocabulary from vocab/bpe_simple_vocab_16e6.txt.gz, laid out as Hugging
Face's vocab.json / merges.txt. Toy size only.
"""
from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import tempfile

import torch
from torch import nn

from tools.reference.make_open_clip_text import TextTower, tensor_json
from tools.tiny_model.clip_bpe import BYTE_ENCODER
from tools.tiny_model.export import UNetOnnx, VAEDecoderOnnx

from . import ldm_names, sd15
from . import safetensors_file as st
from .configs import DIFFUSERS_VERSION, write_configs, write_json
from .make_model import VAEEncoderOnnx, torch_export, write_with_external_data

GENERATOR_VERSION = 1
HEAD_WIDTH = 64
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TEXT = dict(vocab=49408, context=77, width=128, heads=2, layers=3, projection=128)
UNET = dict(block_out_channels=[64, 128, 128, 128], layers_per_block=2, cross_attention_dim=TEXT['width'],
            attention_head_dim=1, norm_num_groups=32, sample_size=96)
VAE = dict(block_out_channels=[32, 32, 64, 64], layers_per_block=2, latent_channels=4, norm_num_groups=32,
           sample_size=768, scaling_factor=0.18215)
# stabilityai/stable-diffusion-2-1's scheduler_config.json (v-prediction); the inpainting model predicts epsilon.
SCHEDULER = {'_class_name': 'DDIMScheduler', '_diffusers_version': DIFFUSERS_VERSION, 'beta_end': 0.012,
             'beta_schedule': 'scaled_linear', 'beta_start': 0.00085, 'clip_sample': False,
             'num_train_timesteps': 1000, 'prediction_type': 'v_prediction', 'set_alpha_to_one': False,
             'skip_prk_steps': True, 'steps_offset': 1, 'trained_betas': None}


class LinearTransformer2D(nn.Module):
    """SD 2.x's Transformer2DModel: GroupNorm, linear proj_in / proj_out (use_linear_projection), 64-wide heads."""

    def __init__(self, ch: int, _heads: int, context_dim: int, groups: int):
        super().__init__()
        self.norm = nn.GroupNorm(groups, ch, eps=1e-6)
        self.proj_in = nn.Linear(ch, ch)
        self.transformer_blocks = nn.ModuleList(
            [sd15.BasicTransformerBlock(ch, ch // HEAD_WIDTH, context_dim, attention=sd15.Attention, ff_mult=4)])
        self.proj_out = nn.Linear(ch, ch)

    def forward(self, x, context):
        b, c, hh, ww = x.shape
        h = self.proj_in(self.norm(x).reshape(b, c, -1).transpose(1, 2))
        for blk in self.transformer_blocks:
            h = blk(h, context)
        return x + self.proj_out(h).transpose(1, 2).reshape(b, c, hh, ww)


class PenultimateText(nn.Module):
    """SD 2.x's FrozenOpenCLIPEmbedder(layer="penultimate"): every block but the last, then ln_final;
    pooled at the end-of-text token (the largest id). input_ids [B, L] -> (last_hidden_state, pooler_output)."""

    def __init__(self, tower: TextTower):
        super().__init__()
        self.tower = tower

    def forward(self, input_ids):
        ids = input_ids.to(torch.int64)
        n = ids.shape[1]
        t = self.tower
        mask = torch.full((n, n), float('-inf')).triu(1)
        x = t.token_embedding(ids) + t.positional_embedding[:n]
        for block in t.transformer.resblocks[:-1]:
            x = block(x, mask)
        x = t.ln_final(x)
        return x, x[torch.arange(x.shape[0]), ids.argmax(dim=-1)]


def build(seed: int, inpaint: bool) -> dict[str, nn.Module]:
    sd15.Transformer2DModel = LinearTransformer2D  # sd15.UNet2DConditionModel builds its transformers through this name
    unet = sd15.UNet2DConditionModel(UNET)
    if inpaint:
        unet.conv_in = nn.Conv2d(9, UNET['block_out_channels'][0], 3, padding=1)
    nets = {'text_encoder': TextTower(TEXT['vocab'], TEXT['context'], TEXT['width'], TEXT['heads'], TEXT['layers'], TEXT['projection']),
            'unet': unet, 'vae': sd15.AutoencoderKL(VAE)}
    for i, net in enumerate(nets.values()):
        g = torch.Generator().manual_seed(seed * 1000 + i)
        sd15.random_init_(net, g)
        net.eval()
    with torch.no_grad():
        # The tower's bare parameters (random_init_ leaves them at torch.empty's contents).
        g = torch.Generator().manual_seed(seed * 1000 + 7)
        tower = nets['text_encoder']
        tower.positional_embedding.copy_(0.01 * torch.randn(tower.positional_embedding.shape, generator=g))
        tower.text_projection.copy_(torch.randn(tower.text_projection.shape, generator=g) / TEXT['width'] ** 0.5)
    return nets


def clip_text_names(tower: TextTower, layers: int) -> dict[str, torch.Tensor]:
    """The first `layers` blocks of the tower under transformers' CLIPTextModel names (q, k, v split out of
    in_proj), as a diffusers SD 2.x text_encoder/model.safetensors holds them."""
    s = tower.state_dict()
    w = TEXT['width']
    out = {'text_model.embeddings.token_embedding.weight': s['token_embedding.weight'],
           'text_model.embeddings.position_embedding.weight': s['positional_embedding'],
           'text_model.final_layer_norm.weight': s['ln_final.weight'], 'text_model.final_layer_norm.bias': s['ln_final.bias']}
    for i in range(layers):
        a, b = f'transformer.resblocks.{i}.', f'text_model.encoder.layers.{i}.'
        for j, part in enumerate(('q_proj', 'k_proj', 'v_proj')):
            out[f'{b}self_attn.{part}.weight'] = s[f'{a}attn.in_proj_weight'][j * w:(j + 1) * w].clone()
            out[f'{b}self_attn.{part}.bias'] = s[f'{a}attn.in_proj_bias'][j * w:(j + 1) * w].clone()
        for mine, theirs in (('self_attn.out_proj', 'attn.out_proj'), ('layer_norm1', 'ln_1'), ('layer_norm2', 'ln_2'),
                             ('mlp.fc1', 'mlp.c_fc'), ('mlp.fc2', 'mlp.c_proj')):
            for kind in ('weight', 'bias'):
                out[f'{b}{mine}.{kind}'] = s[f'{a}{theirs}.{kind}']
    return out


def write_clip_tokenizer(folder: str) -> None:
    """vocab.json / merges.txt from OpenAI's bpe_simple_vocab_16e6.txt.gz in simple_tokenizer.py's id order,
    with SD 2.x's special tokens (pad '!', id 0, as open_clip pads)."""
    with gzip.open(os.path.join(REPO, 'vocab', 'bpe_simple_vocab_16e6.txt.gz'), 'rt', encoding='utf-8') as f:
        merges = f.read().split('\n')[1:49152 - 256 - 2 + 1]
    alphabet = list(BYTE_ENCODER.values())
    tokens = alphabet + [c + '</w>' for c in alphabet] + [m.replace(' ', '') for m in merges] + ['<|startoftext|>', '<|endoftext|>']
    assert len(tokens) == 49408 == len(set(tokens))
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, 'vocab.json'), 'w', encoding='utf-8') as f:
        json.dump({t: i for i, t in enumerate(tokens)}, f, ensure_ascii=False)
    with open(os.path.join(folder, 'merges.txt'), 'w', encoding='utf-8') as f:
        f.write('#version: 0.2\n' + '\n'.join(merges) + '\n')
    write_json(os.path.join(folder, 'special_tokens_map.json'), {
        'bos_token': '<|startoftext|>', 'eos_token': '<|endoftext|>', 'pad_token': '!', 'unk_token': '<|endoftext|>'})
    write_json(os.path.join(folder, 'tokenizer_config.json'), {'model_max_length': 77, 'tokenizer_class': 'CLIPTokenizer'})


def write_sd2_configs(root: str, inpaint: bool, vae_dirs: tuple[str, ...]) -> None:
    c = {'text': dict(vocab_size=TEXT['vocab'], hidden_size=TEXT['width'], num_hidden_layers=TEXT['layers'] - 1,
                      num_attention_heads=TEXT['heads'], intermediate_size=4 * TEXT['width'], max_position_embeddings=TEXT['context']),
         'unet': UNET, 'vae': VAE}
    write_configs(root, c, vae_dirs=vae_dirs)
    # SD 2.x's text encoder: exact GELU; the UNet: 64-wide heads, linear projections.
    path = os.path.join(root, 'text_encoder', 'config.json')
    with open(path, encoding='utf-8') as f:
        text = json.load(f)
    write_json(path, dict(text, hidden_act='gelu', projection_dim=TEXT['projection']))
    path = os.path.join(root, 'unet', 'config.json')
    with open(path, encoding='utf-8') as f:
        unet = json.load(f)
    write_json(path, dict(unet, attention_head_dim=[w // HEAD_WIDTH for w in UNET['block_out_channels']],
                          use_linear_projection=True, in_channels=9 if inpaint else 4, sample_size=64 if inpaint else 96))
    write_json(os.path.join(root, 'scheduler', 'scheduler_config.json'),
               dict(SCHEDULER, prediction_type='epsilon') if inpaint else SCHEDULER)
    write_clip_tokenizer(os.path.join(root, 'tokenizer'))


def export_onnx(nets: dict, root: str, work: str, inpaint: bool) -> None:
    ids = torch.full((1, 77), 0, dtype=torch.int32)
    ids[0, :2] = torch.tensor([49406, 49407])
    torch_export(PenultimateText(nets['text_encoder']), (ids,), os.path.join(root, 'text_encoder', 'model.onnx'),
                 ['input_ids'], ['last_hidden_state', 'pooler_output'],
                 {'input_ids': {0: 'batch_size', 1: 'sequence_length'},
                  'last_hidden_state': {0: 'batch_size', 1: 'sequence_length'}, 'pooler_output': {0: 'batch_size'}})
    staged = os.path.join(work, 'unet', 'model.onnx')
    args = (torch.zeros(2, 9 if inpaint else 4, 8, 8), torch.tensor([999, 999], dtype=torch.int64), torch.zeros(2, 77, TEXT['width']))
    torch_export(UNetOnnx(nets['unet']), args, staged, ['sample', 'timestep', 'encoder_hidden_states'], ['out_sample'],
                 {'sample': {0: 'batch_size', 2: 'height', 3: 'width'}, 'timestep': {0: 'steps'},
                  'encoder_hidden_states': {0: 'batch_size', 1: 'sequence_length'},
                  'out_sample': {0: 'batch_size', 2: 'height', 3: 'width'}})
    write_with_external_data(staged, os.path.join(root, 'unet'))
    lc = VAE['latent_channels']
    torch_export(VAEDecoderOnnx(nets['vae']), (torch.zeros(1, lc, 8, 8),), os.path.join(root, 'vae_decoder', 'model.onnx'),
                 ['latent_sample'], ['sample'],
                 {'latent_sample': {0: 'batch_size', 2: 'height_latent', 3: 'width_latent'}, 'sample': {0: 'batch_size', 2: 'height', 3: 'width'}})
    torch_export(VAEEncoderOnnx(nets['vae']), (torch.zeros(1, 3, 64, 64),), os.path.join(root, 'vae_encoder', 'model.onnx'),
                 ['sample'], ['latent_parameters'],
                 {'sample': {0: 'batch_size', 2: 'height', 3: 'width'}, 'latent_parameters': {0: 'batch_size', 2: 'height_latent', 3: 'width_latent'}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=2024)
    ap.add_argument('--inpaint', action='store_true')
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_TORCH_THREADS', '1')))
    nets = build(a.seed, a.inpaint)
    parent = os.path.dirname(os.path.abspath(a.out))
    os.makedirs(parent, exist_ok=True)
    temp = tempfile.mkdtemp(prefix='.sd2-toy-', dir=parent)
    try:
        name = 'sd2-inpaint-toy' if a.inpaint else 'sd2-toy'
        onnx_root = os.path.join(temp, 'onnx')
        write_sd2_configs(onnx_root, a.inpaint, ('vae_decoder', 'vae_encoder'))
        export_onnx(nets, onnx_root, os.path.join(temp, 'work'), a.inpaint)
        shutil.rmtree(os.path.join(temp, 'work'))

        unet, vae, tower = (dict(nets[k].state_dict()) for k in ('unet', 'vae', 'text_encoder'))
        entries = [st.entry(ldm_names.to_ldm('unet', k), v) for k, v in unet.items()]
        for k, v in vae.items():
            key = ldm_names.to_ldm('vae', k)
            shape = ldm_names.vae_weight_to_ldm(key, list(v.shape))
            entries.append(st.Entry(key, torch.float32, shape, lambda v=v, shape=shape: v.reshape(shape)))
        entries += [st.entry('cond_stage_model.model.' + k, v) for k, v in tower.items()]
        st.write(os.path.join(temp, f'{name}.safetensors'), entries, {'format': 'pt'})

        diffusers = os.path.join(temp, 'diffusers')
        write_sd2_configs(diffusers, a.inpaint, ('vae',))
        st.write(os.path.join(diffusers, 'unet', 'diffusion_pytorch_model.safetensors'), [st.entry(k, v) for k, v in unet.items()], {'format': 'pt'})
        st.write(os.path.join(diffusers, 'vae', 'diffusion_pytorch_model.safetensors'), [st.entry(k, v) for k, v in vae.items()], {'format': 'pt'})
        st.write(os.path.join(diffusers, 'text_encoder', 'model.safetensors'),
                 [st.entry(k, v) for k, v in clip_text_names(nets['text_encoder'], TEXT['layers'] - 1).items()], {'format': 'pt'})

        ids = torch.zeros(2, 77, dtype=torch.int64)
        ids[0, :5] = torch.tensor([49406, 320, 1125, 539, 49407])
        ids[1, :3] = torch.tensor([49406, 2368, 49407])
        with torch.no_grad():
            hidden, pooled = PenultimateText(nets['text_encoder'])(ids)
        write_json(os.path.join(temp, 'reference.json'), {'ids': ids.tolist(), 'last_hidden_state': tensor_json(hidden), 'pooler_output': tensor_json(pooled)})
        write_json(os.path.join(temp, 'sd2_toy.json'), {'seed': a.seed, 'inpaint': a.inpaint, 'generator_version': GENERATOR_VERSION,
                                                        'single_file': f'{name}.safetensors', 'text': TEXT, 'unet': UNET})
        if os.path.exists(a.out):
            shutil.rmtree(a.out)
        os.replace(temp, a.out)
    finally:
        if os.path.exists(temp):
            shutil.rmtree(temp)
    print(f'wrote {a.out}')


if __name__ == '__main__':
    main()
