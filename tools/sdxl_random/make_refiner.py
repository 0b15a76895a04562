"""Writes a seeded random-weight Stable Diffusion XL *refiner* (toy scale) in the three layouts, with a
PyTorch reference of one UNet call.

The refiner (stabilityai/stable-diffusion-xl-refiner-1.0) differs from SDXL base in what it is given:
only the second text encoder (OpenCLIP bigG; its penultimate hidden states are the whole 1280-wide
encoder_hidden_states and its projected pooled output is text_embeds), five time ids (original size,
crop top-left, aesthetic score) so add_embedding takes 1280 + 5 * 256 = 2560 values, a four-level UNet
(384, 768, 1536, 1536 wide; attention at the middle two levels, transformer depth 4) and model_index.json
with `requires_aesthetics_score: true`, `force_zeros_for_empty_prompt: false` and text_encoder /
tokenizer set to [null, null]. The SGM single file (sd_xl_refiner_1.0.safetensors) holds the bigG encoder
as `conditioner.embedders.0.model.*` (diffusers' CHECKPOINT_KEY_NAMES tell the refiner from the base by
exactly that key). The toy keeps the structure at narrow widths.

    python3 -m tools.sdxl_random.make_refiner --out DIR [--seed N]

writes DIR/onnx/ (text_encoder_2, unet with time_ids [batch, 5], vae_decoder, vae_encoder, tokenizer_2,
scheduler), DIR/diffusers/, DIR/sdxl-refiner-toy.safetensors, DIR/unet_reference.safetensors, DIR/text_reference.safetensors (the prompt conditioning of
TEXT_PROMPT) and, last,
DIR/sdxl_refiner.json.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile

import torch

from tools.sd15_random import ldm_names
from tools.sd15_random import safetensors_file as st
from tools.sd15_random.configs import write_json
from tools.sd15_random.make_model import torch_export, write_with_external_data
from tools.sd15_random.sd15 import AutoencoderKL, random_init_

from . import sdxl
from .make_model import (METADATA, TE2, TextEncoderOnnx, UNetOnnx, VAEDecoderOnnx, VAEEncoderOnnx, openclip_entries,
                         position_ids, sgm_unet_vae, state, write_configs)

GENERATOR_VERSION = 2  # 2: text_reference.safetensors
TIME_IDS = 5
REFINER_DOWN = ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D']
REFINER_UP = ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D']
STRUCTURE = ldm_names.Structure(blocks=4, layers=2, down_attention=(False, True, True, False), up_attention=(False, True, True, False))
# SGM's refiner conditioner: the bigG encoder is the first (and only) embedder.
TE_REFINER = 'conditioner.embedders.0.model.'


def toy_config() -> dict:
    base = sdxl.SCALES['toy']
    text2 = dict(base['text2'])
    return dict(
        text=base['text'],  # only for write_configs' shared files; the refiner has no first encoder
        text2=text2,
        unet=dict(block_out_channels=[32, 64, 128, 128], layers_per_block=2, transformer_layers_per_block=[2, 2, 2, 2],
                  attention_head_dim=[1, 1, 2, 2], cross_attention_dim=text2['hidden_size'], norm_num_groups=32, sample_size=128,
                  addition_time_embed_dim=16, projection_class_embeddings_input_dim=text2['projection_dim'] + TIME_IDS * 16,
                  down_block_types=REFINER_DOWN, up_block_types=REFINER_UP),
        vae=base['vae'],
    )


def build(c: dict, seed: int) -> dict[str, torch.nn.Module]:
    nets = {'text_encoder_2': sdxl.SDXLTextModel(c['text2']), 'unet': sdxl.SDXLUNet(c['unet']), 'vae': AutoencoderKL(c['vae'])}
    for i, net in enumerate(nets.values()):
        random_init_(net, torch.Generator().manual_seed(seed * 1000 + 500 + i))
        net.eval()
    return nets


def write_refiner_configs(root: str, c: dict, seed: int, vae_dirs: tuple[str, ...]) -> None:
    """SDXL base's files (make_model.write_configs), then the refiner's differences."""
    write_configs(root, c, seed, vae_dirs)
    for sub in ('text_encoder', 'tokenizer'):
        shutil.rmtree(os.path.join(root, sub), ignore_errors=True)
    index_path = os.path.join(root, 'model_index.json')
    with open(index_path, encoding='utf-8') as f:
        index = json.load(f)
    index.update({'_class_name': 'StableDiffusionXLImg2ImgPipeline', 'requires_aesthetics_score': True,
                  'force_zeros_for_empty_prompt': False, 'text_encoder': [None, None], 'tokenizer': [None, None]})
    write_json(index_path, index)
    unet_path = os.path.join(root, 'unet', 'config.json')
    with open(unet_path, encoding='utf-8') as f:
        unet = json.load(f)
    unet.update({'down_block_types': REFINER_DOWN, 'up_block_types': REFINER_UP})
    write_json(unet_path, unet)


def export_onnx(nets: dict, c: dict, root: str, work: str) -> None:
    layers = c['text2']['num_hidden_layers']
    outputs = ['text_embeds', 'last_hidden_state'] + [f'hidden_states.{i}' for i in range(layers + 1)]
    ids = torch.full((1, 77), 49407, dtype=torch.int64)
    ids[0, 0] = 49406
    axes = {'input_ids': {0: 'batch_size', 1: 'sequence_length'}}
    for name in outputs:
        axes[name] = {0: 'batch_size'} if name == 'text_embeds' else {0: 'batch_size', 1: 'sequence_length'}
    torch_export(TextEncoderOnnx(nets['text_encoder_2'], True), (ids,), os.path.join(root, 'text_encoder_2', 'model.onnx'), ['input_ids'], outputs, axes)
    u = c['unet']
    staged = os.path.join(work, 'unet', 'model.onnx')
    args = (torch.zeros(2, 4, 8, 8), torch.tensor([999, 999], dtype=torch.int64), torch.zeros(2, 77, u['cross_attention_dim']),
            torch.zeros(2, c['text2']['projection_dim']), torch.zeros(2, TIME_IDS))
    torch_export(UNetOnnx(nets['unet']), args, staged, ['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids'], ['out_sample'],
                 {'sample': {0: 'batch_size', 2: 'height', 3: 'width'}, 'timestep': {0: 'steps'},
                  'encoder_hidden_states': {0: 'batch_size', 1: 'sequence_length'}, 'text_embeds': {0: 'batch_size'},
                  'time_ids': {0: 'batch_size'}, 'out_sample': {0: 'batch_size', 2: 'height', 3: 'width'}})
    write_with_external_data(staged, os.path.join(root, 'unet'))
    lc = c['vae']['latent_channels']
    torch_export(VAEDecoderOnnx(nets['vae']), (torch.zeros(1, lc, 8, 8),), os.path.join(root, 'vae_decoder', 'model.onnx'), ['latent_sample'], ['sample'],
                 {'latent_sample': {0: 'batch_size', 2: 'height_latent', 3: 'width_latent'}, 'sample': {0: 'batch_size', 2: 'height', 3: 'width'}})
    torch_export(VAEEncoderOnnx(nets['vae']), (torch.zeros(1, 3, 64, 64),), os.path.join(root, 'vae_encoder', 'model.onnx'), ['sample'], ['latent_parameters'],
                 {'sample': {0: 'batch_size', 2: 'height', 3: 'width'}, 'latent_parameters': {0: 'batch_size', 2: 'height_latent', 3: 'width_latent'}})


def write_diffusers(folder: str, nets: dict, c: dict, seed: int) -> None:
    write_refiner_configs(folder, c, seed, ('vae',))
    st.write(os.path.join(folder, 'unet', 'diffusion_pytorch_model.safetensors'), [st.entry(k, v) for k, v in state(nets['unet']).items()], METADATA)
    st.write(os.path.join(folder, 'vae', 'diffusion_pytorch_model.safetensors'), [st.entry(k, v) for k, v in state(nets['vae']).items()], METADATA)
    named = state(nets['text_encoder_2'])
    named['text_model.embeddings.position_ids'] = position_ids()
    st.write(os.path.join(folder, 'text_encoder_2', 'model.safetensors'), [st.entry(k, v) for k, v in named.items()], METADATA)


def sgm_tensors(nets: dict, c: dict) -> dict[str, torch.Tensor]:
    out = sgm_unet_vae(nets, STRUCTURE)
    for name, t in openclip_entries(state(nets['text_encoder_2']), c['text2']['num_hidden_layers']).items():
        out[TE_REFINER + name] = t
    assert not any(k.startswith(TE2) for k in out)
    return out


def unet_reference(nets: dict, c: dict) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(11)
    # Three downsamplings: the latent sides are multiples of 8 (the engine's 64-pixel grid for this UNet).
    sample = torch.randn(2, 4, 16, 24, generator=g)
    timestep = torch.tensor([300, 300], dtype=torch.int64)
    ehs = torch.randn(2, 77, c['unet']['cross_attention_dim'], generator=g)
    text_embeds = torch.randn(2, c['text2']['projection_dim'], generator=g)
    # diffusers' refiner: negative row with negative_aesthetic_score 2.5, positive with aesthetic_score 6.0.
    time_ids = torch.tensor([[128.0, 192.0, 0.0, 0.0, 2.5], [128.0, 192.0, 0.0, 0.0, 6.0]])
    with torch.no_grad():
        out = nets['unet'](sample, timestep, ehs, text_embeds, time_ids)
    if not torch.isfinite(out).all():
        raise ValueError('refiner UNet reference output is not finite')
    return {'sample': sample, 'timestep': timestep.float(), 'encoder_hidden_states': ehs, 'text_embeds': text_embeds,
            'time_ids': time_ids, 'out_sample': out}


TEXT_PROMPT = 'a red square on a blue background'


def text_reference(nets: dict, root: str) -> dict[str, torch.Tensor]:
    """diffusers' refiner encode_prompt: text_encoder_2's hidden_states[-2] alone and its projected pooled
    output, for TEXT_PROMPT tokenized by tokenizer_2 (padded with id 0, '!')."""
    from tools.tiny_model.clip_bpe import Tokenizer
    tok = Tokenizer.load(os.path.join(root, 'tokenizer_2'))
    row = tok(TEXT_PROMPT)
    n = row.index(tok.eos_id) + 1
    row = row[:n] + [0] * (len(row) - n)
    ids = torch.tensor([row], dtype=torch.int64)
    with torch.no_grad():
        _, pooled, states = nets['text_encoder_2'](ids)
    return {'input_ids': ids.float(), 'prompt_embeds': states[-2], 'text_embeds': pooled}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=1234)
    a = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_TORCH_THREADS', '1')))
    out = os.path.abspath(a.out)
    c = toy_config()
    nets = build(c, a.seed)
    counts = {k: sdxl.count_params(v) for k, v in nets.items()}
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.sdxl-refiner-', dir=parent)
    work = tempfile.mkdtemp(prefix='.sdxl-refiner-export-', dir=parent)
    try:
        write_refiner_configs(os.path.join(staging, 'onnx'), c, a.seed, ('vae_decoder', 'vae_encoder'))
        export_onnx(nets, c, os.path.join(staging, 'onnx'), work)
        write_diffusers(os.path.join(staging, 'diffusers'), nets, c, a.seed)
        st.write(os.path.join(staging, 'sdxl-refiner-toy.safetensors'), [st.entry(k, v) for k, v in sgm_tensors(nets, c).items()], METADATA)
        st.write(os.path.join(staging, 'unet_reference.safetensors'), [st.entry(k, v) for k, v in unet_reference(nets, c).items()])
        st.write(os.path.join(staging, 'text_reference.safetensors'),
                 [st.entry(k, v) for k, v in text_reference(nets, os.path.join(staging, 'onnx')).items()], {'prompt': TEXT_PROMPT})
        write_json(os.path.join(staging, 'sdxl_refiner.json'), {
            'generator': 'tools/sdxl_random/make_refiner.py', 'generator_version': GENERATOR_VERSION, 'scale': 'toy', 'seed': a.seed,
            'parameters': counts, 'note': "random weights in the SDXL refiner's architecture: for engine tests; the images are noise"})
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(staging, 0o777 & ~mask)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    print(f'wrote {out}: parameters ' + ', '.join(f'{k} {v:,}' for k, v in counts.items()))


if __name__ == '__main__':
    main()
