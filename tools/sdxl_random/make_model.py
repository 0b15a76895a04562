"""Writes a seeded random-weight Stable Diffusion XL model in the three layouts users have, with the same
weights in each, plus a PyTorch reference of one UNet call.

    python3 -m tools.sdxl_random.make_model [--scale toy|full] --out DIR [--seed N] [--only onnx]

(from the repository root; make_model.sh does that from anywhere) writes

    DIR/onnx/                       optimum's SDXL ONNX layout: text_encoder (input_ids int32 ->
                                    last_hidden_state, pooler_output, hidden_states.0..N), text_encoder_2
                                    (input_ids int64 -> text_embeds, last_hidden_state, hidden_states.0..N),
                                    unet (sample, timestep int64 [steps], encoder_hidden_states, text_embeds,
                                    time_ids -> out_sample; weights in model.onnx_data), vae_decoder,
                                    vae_encoder, tokenizer, tokenizer_2, scheduler, model_index.json
    DIR/diffusers/                  the diffusers safetensors folder (as Hugging Face hosts SDXL base)
    DIR/sdxl-random-<scale>.safetensors   the single file in the SGM key layout (as sd_xl_base_1.0.safetensors)
    DIR/unet_reference.safetensors  inputs and the PyTorch output of one UNet call (batch 2, 16x12 latents)
    DIR/text_reference.safetensors  SDXL's prompt conditioning for TEXT_PROMPT (encoder 1) and TEXT_PROMPT_2
                                    (encoder 2): token ids, the concatenated penultimate hidden states, text_embeds
    DIR/lora_kohya.safetensors      a seeded kohya-ss SDXL LoRA (LoCon) with sd-scripts' key names:
                                    lora_unet_<SGM module>, lora_te1_ / lora_te2_<transformers module>,
                                    .lora_down.weight / .lora_up.weight / .alpha
    DIR/lora_reference.safetensors  the UNet reference call again with that LoRA merged at LORA_WEIGHT
    DIR/sdxl_random.json            what made them (written last: its presence marks a complete folder)

Names and layouts: optimum's SDXL ONNX config (text encoders exported with output_hidden_states, UNet
inputs text_embeds / time_ids for addition_embed_type text_time); the SGM single-file prefixes and
reshapes of diffusers' single-file conversion (model.diffusion_model.* with label_emb.0.0/0.2 for
add_embedding, first_stage_model.*, conditioner.embedders.0.transformer.text_model.*, and
conditioner.embedders.1.model.* in OpenCLIP's names: in_proj_weight = q, k, v stacked, text_projection
stored transposed).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import torch

from tools.sd15_random import ldm_names
from tools.sd15_random import safetensors_file as st
from tools.sd15_random.configs import write_json, write_tokenizer
from tools.sd15_random.make_model import torch_export, write_with_external_data

from . import sdxl

GENERATOR_VERSION = 3  # 2: 64-wide UNet heads in the toy (were 16-wide); 3: the kohya LoRA fixture
DIFFUSERS_VERSION = '0.25.0'
METADATA = {'format': 'pt'}
SDXL_STRUCTURE = ldm_names.Structure(blocks=3, layers=2, down_attention=(False, True, True), up_attention=(True, True, False))
TE1 = 'conditioner.embedders.0.transformer.'
TE2 = 'conditioner.embedders.1.model.'


# ------------------------------------------------------------------------------------------ configs

def write_configs(root: str, c: dict, seed: int, vae_dirs: tuple[str, ...]) -> None:
    index = {
        '_class_name': 'StableDiffusionXLPipeline', '_diffusers_version': DIFFUSERS_VERSION,
        'force_zeros_for_empty_prompt': True, 'requires_aesthetics_score': False,
        'scheduler': ['diffusers', 'EulerDiscreteScheduler'], 'text_encoder': ['transformers', 'CLIPTextModel'],
        'text_encoder_2': ['transformers', 'CLIPTextModelWithProjection'], 'tokenizer': ['transformers', 'CLIPTokenizer'],
        'tokenizer_2': ['transformers', 'CLIPTokenizer'], 'unet': ['diffusers', 'UNet2DConditionModel'],
        'vae': ['diffusers', 'AutoencoderKL']}
    write_json(os.path.join(root, 'model_index.json'), index)
    # SDXL base 1.0's scheduler_config.json.
    write_json(os.path.join(root, 'scheduler', 'scheduler_config.json'), {
        '_class_name': 'EulerDiscreteScheduler', '_diffusers_version': DIFFUSERS_VERSION, 'beta_end': 0.012,
        'beta_schedule': 'scaled_linear', 'beta_start': 0.00085, 'clip_sample': False, 'interpolation_type': 'linear',
        'num_train_timesteps': 1000, 'prediction_type': 'epsilon', 'sample_max_value': 1.0, 'set_alpha_to_one': False,
        'skip_prk_steps': True, 'steps_offset': 1, 'timestep_spacing': 'leading', 'trained_betas': None,
        'use_karras_sigmas': False})
    for sub, t, arch in (('text_encoder', c['text'], 'CLIPTextModel'), ('text_encoder_2', c['text2'], 'CLIPTextModelWithProjection')):
        write_json(os.path.join(root, sub, 'config.json'), {
            'architectures': [arch], 'attention_dropout': 0.0, 'bos_token_id': 0, 'dropout': 0.0, 'eos_token_id': 2,
            'hidden_act': t['hidden_act'], 'hidden_size': t['hidden_size'], 'initializer_factor': 1.0,
            'initializer_range': 0.02, 'intermediate_size': t['intermediate_size'], 'layer_norm_eps': 1e-05,
            'max_position_embeddings': t['max_position_embeddings'], 'model_type': 'clip_text_model',
            'num_attention_heads': t['num_attention_heads'], 'num_hidden_layers': t['num_hidden_layers'],
            'pad_token_id': 1, 'projection_dim': t.get('projection_dim', t['hidden_size']), 'torch_dtype': 'float32',
            'vocab_size': t['vocab_size']})
    u = c['unet']
    write_json(os.path.join(root, 'unet', 'config.json'), {
        '_class_name': 'UNet2DConditionModel', '_diffusers_version': DIFFUSERS_VERSION, 'act_fn': 'silu',
        'addition_embed_type': 'text_time', 'addition_time_embed_dim': u['addition_time_embed_dim'],
        'attention_head_dim': u['attention_head_dim'], 'block_out_channels': u['block_out_channels'],
        'center_input_sample': False, 'cross_attention_dim': u['cross_attention_dim'],
        'down_block_types': sdxl.DOWN_BLOCK_TYPES, 'downsample_padding': 1, 'dual_cross_attention': False,
        'flip_sin_to_cos': True, 'freq_shift': 0, 'in_channels': 4, 'layers_per_block': u['layers_per_block'],
        'mid_block_scale_factor': 1, 'mid_block_type': 'UNetMidBlock2DCrossAttn', 'norm_eps': 1e-05,
        'norm_num_groups': u['norm_num_groups'], 'num_attention_heads': None, 'only_cross_attention': False,
        'out_channels': 4, 'projection_class_embeddings_input_dim': u['projection_class_embeddings_input_dim'],
        'sample_size': u['sample_size'], 'transformer_layers_per_block': u['transformer_layers_per_block'],
        'up_block_types': sdxl.UP_BLOCK_TYPES, 'upcast_attention': False, 'use_linear_projection': True})
    v = c['vae']
    vae = {
        '_class_name': 'AutoencoderKL', '_diffusers_version': DIFFUSERS_VERSION, 'act_fn': 'silu',
        'block_out_channels': v['block_out_channels'], 'down_block_types': ['DownEncoderBlock2D'] * 4,
        'force_upcast': True, 'in_channels': 3, 'latent_channels': v['latent_channels'],
        'layers_per_block': v['layers_per_block'], 'norm_num_groups': v['norm_num_groups'], 'out_channels': 3,
        'sample_size': v['sample_size'], 'scaling_factor': v['scaling_factor'], 'up_block_types': ['UpDecoderBlock2D'] * 4}
    for d in vae_dirs:
        write_json(os.path.join(root, d, 'config.json'), vae)
    write_tokenizer(os.path.join(root, 'tokenizer'), c['text']['vocab_size'], seed)
    write_tokenizer(os.path.join(root, 'tokenizer_2'), c['text2']['vocab_size'], seed)
    # SDXL's second tokenizer pads with "!" (id 0), not <|endoftext|>.
    for name in ('tokenizer_config.json', 'special_tokens_map.json'):
        path = os.path.join(root, 'tokenizer_2', name)
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
        data['pad_token'] = '!'
        write_json(path, data)


# ------------------------------------------------------------------------------------------ ONNX

class TextEncoderOnnx(torch.nn.Module):
    def __init__(self, te, projection: bool):
        super().__init__()
        self.te, self.projection = te, projection

    def forward(self, input_ids):
        last, pooled, states = self.te(input_ids)
        return (pooled, last, *states) if self.projection else (last, pooled, *states)


class UNetOnnx(torch.nn.Module):
    def __init__(self, unet):
        super().__init__()
        self.unet = unet

    def forward(self, sample, timestep, encoder_hidden_states, text_embeds, time_ids):
        return self.unet(sample, timestep, encoder_hidden_states, text_embeds, time_ids)


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
        return self.vae.encode_parameters(sample)


def export_onnx(nets: dict, c: dict, root: str, work: str) -> None:
    for sub, key, dtype, projection in (('text_encoder', 'text', torch.int32, False), ('text_encoder_2', 'text2', torch.int64, True)):
        layers = c[key]['num_hidden_layers']
        states = [f'hidden_states.{i}' for i in range(layers + 1)]
        outputs = (['text_embeds', 'last_hidden_state'] if projection else ['last_hidden_state', 'pooler_output']) + states
        ids = torch.full((1, 77), 49407, dtype=dtype)
        ids[0, 0] = 49406
        axes = {'input_ids': {0: 'batch_size', 1: 'sequence_length'}}
        for name in outputs:
            axes[name] = {0: 'batch_size'} if name in ('text_embeds', 'pooler_output') else {0: 'batch_size', 1: 'sequence_length'}
        torch_export(TextEncoderOnnx(nets[sub], projection), (ids,), os.path.join(root, sub, 'model.onnx'), ['input_ids'], outputs, axes)
    u = c['unet']
    staged = os.path.join(work, 'unet', 'model.onnx')
    args = (torch.zeros(2, 4, 8, 8), torch.tensor([999, 999], dtype=torch.int64), torch.zeros(2, 77, u['cross_attention_dim']),
            torch.zeros(2, c['text2']['projection_dim']), torch.zeros(2, 6))
    torch_export(UNetOnnx(nets['unet']), args, staged, ['sample', 'timestep', 'encoder_hidden_states', 'text_embeds', 'time_ids'], ['out_sample'],
                 {'sample': {0: 'batch_size', 2: 'height', 3: 'width'}, 'timestep': {0: 'steps'},
                  'encoder_hidden_states': {0: 'batch_size', 1: 'sequence_length'}, 'text_embeds': {0: 'batch_size'},
                  'time_ids': {0: 'batch_size'}, 'out_sample': {0: 'batch_size', 2: 'height', 3: 'width'}})
    write_with_external_data(staged, os.path.join(root, 'unet'))
    lc = c['vae']['latent_channels']
    torch_export(VAEDecoderOnnx(nets['vae']), (torch.zeros(1, lc, 8, 8),), os.path.join(root, 'vae_decoder', 'model.onnx'),
                 ['latent_sample'], ['sample'],
                 {'latent_sample': {0: 'batch_size', 2: 'height_latent', 3: 'width_latent'}, 'sample': {0: 'batch_size', 2: 'height', 3: 'width'}})
    torch_export(VAEEncoderOnnx(nets['vae']), (torch.zeros(1, 3, 64, 64),), os.path.join(root, 'vae_encoder', 'model.onnx'),
                 ['sample'], ['latent_parameters'],
                 {'sample': {0: 'batch_size', 2: 'height', 3: 'width'}, 'latent_parameters': {0: 'batch_size', 2: 'height_latent', 3: 'width_latent'}})


# ------------------------------------------------------------------------------------------ safetensors layouts

def state(net) -> dict[str, torch.Tensor]:
    return {k: v.detach() for k, v in net.state_dict().items()}


def position_ids() -> torch.Tensor:
    return torch.arange(77, dtype=torch.int64).unsqueeze(0)


def write_diffusers(folder: str, nets: dict, c: dict, seed: int, dtype: torch.dtype | None = None) -> None:
    write_configs(folder, c, seed, ('vae',))
    files = {'unet': 'diffusion_pytorch_model.safetensors', 'vae': 'diffusion_pytorch_model.safetensors',
             'text_encoder': 'model.safetensors', 'text_encoder_2': 'model.safetensors'}
    for sub, name in files.items():
        named = state(nets[sub])
        if sub.startswith('text_encoder'):
            named['text_model.embeddings.position_ids'] = position_ids()
        st.write(os.path.join(folder, sub, name), [st.entry(k, v, dtype if v.is_floating_point() else None) for k, v in named.items()], METADATA)


def openclip_entries(named: dict[str, torch.Tensor], layers: int) -> dict[str, torch.Tensor]:
    """transformers CLIPTextModelWithProjection names -> OpenCLIP's (SGM's conditioner.embedders.1.model.*)."""
    out = {
        'token_embedding.weight': named['text_model.embeddings.token_embedding.weight'],
        'positional_embedding': named['text_model.embeddings.position_embedding.weight'],
        'ln_final.weight': named['text_model.final_layer_norm.weight'],
        'ln_final.bias': named['text_model.final_layer_norm.bias'],
        # OpenCLIP multiplies by text_projection (x @ P); transformers' Linear stores P transposed.
        'text_projection': named['text_projection.weight'].t().contiguous(),
        'logit_scale': torch.tensor(4.6052),
    }
    for i in range(layers):
        src, dst = f'text_model.encoder.layers.{i}.', f'transformer.resblocks.{i}.'
        for kind in ('weight', 'bias'):
            out[f'{dst}attn.in_proj_{kind}'] = torch.cat([named[f'{src}self_attn.{p}_proj.{kind}'] for p in 'qkv'], 0)
            out[f'{dst}attn.out_proj.{kind}'] = named[f'{src}self_attn.out_proj.{kind}']
            out[f'{dst}ln_1.{kind}'] = named[f'{src}layer_norm1.{kind}']
            out[f'{dst}ln_2.{kind}'] = named[f'{src}layer_norm2.{kind}']
            out[f'{dst}mlp.c_fc.{kind}'] = named[f'{src}mlp.fc1.{kind}']
            out[f'{dst}mlp.c_proj.{kind}'] = named[f'{src}mlp.fc2.{kind}']
    assert sum(v.numel() for k, v in out.items() if k != 'logit_scale') == sum(v.numel() for v in named.values())
    return out


def unet_to_sgm(name: str, structure: ldm_names.Structure = SDXL_STRUCTURE) -> str:
    for old, new in (('add_embedding.linear_1.', 'label_emb.0.0.'), ('add_embedding.linear_2.', 'label_emb.0.2.')):
        if name.startswith(old):
            return new + name[len(old):]
    return ldm_names.unet_to_ldm(name, structure)


def sgm_unet_vae(nets: dict, structure: ldm_names.Structure) -> dict[str, torch.Tensor]:
    """The UNet and VAE of an SGM single file (base and refiner alike; the encoders differ)."""
    out: dict[str, torch.Tensor] = {}
    for name, t in state(nets['unet']).items():
        out[ldm_names.UNET + unet_to_sgm(name, structure)] = t
    for name, t in state(nets['vae']).items():
        key = ldm_names.VAE + ldm_names.vae_to_ldm(name, structure)
        out[key] = t.reshape(ldm_names.vae_weight_to_ldm(key, list(t.shape)))
    return out


def sgm_tensors(nets: dict, c: dict) -> dict[str, torch.Tensor]:
    out = sgm_unet_vae(nets, SDXL_STRUCTURE)
    for name, t in state(nets['text_encoder']).items():
        out[TE1 + name] = t
    out[TE1 + 'text_model.embeddings.position_ids'] = position_ids()
    for name, t in openclip_entries(state(nets['text_encoder_2']), c['text2']['num_hidden_layers']).items():
        out[TE2 + name] = t
    return out


# ------------------------------------------------------------------------------------------ reference

def unet_reference(nets: dict, c: dict) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(7)
    sample = torch.randn(2, 4, 16, 12, generator=g)
    timestep = torch.tensor([500, 500], dtype=torch.int64)
    ehs = torch.randn(2, 77, c['unet']['cross_attention_dim'], generator=g)
    text_embeds = torch.randn(2, c['text2']['projection_dim'], generator=g)
    time_ids = torch.tensor([[1024.0, 1024.0, 0.0, 0.0, 1024.0, 1024.0], [768.0, 1344.0, 0.0, 0.0, 768.0, 1344.0]])
    with torch.no_grad():
        out = nets['unet'](sample, timestep, ehs, text_embeds, time_ids)
    if not torch.isfinite(out).all():
        raise ValueError('UNet reference output is not finite')
    # Integer inputs are stored as float32 (exact at these magnitudes) so any float safetensors reader reads them.
    return {'sample': sample, 'timestep': timestep.float(), 'encoder_hidden_states': ehs, 'text_embeds': text_embeds,
            'time_ids': time_ids, 'out_sample': out}


TEXT_PROMPT = 'a red square on a blue background'
TEXT_PROMPT_2 = 'a photo of a cat'


def text_reference(nets: dict, root: str) -> dict[str, torch.Tensor]:
    """diffusers' encode_prompt for (prompt, prompt_2): each encoder's hidden_states[-2], concatenated on
    the width axis, and text_encoder_2's projected pooled output. Tokenizer 2 pads with id 0 ('!')."""
    from tools.tiny_model.clip_bpe import Tokenizer
    ids = []
    for sub, text, pad in (('tokenizer', TEXT_PROMPT, None), ('tokenizer_2', TEXT_PROMPT_2, 0)):
        tok = Tokenizer.load(os.path.join(root, sub))
        row = tok(text)
        if pad is not None:
            n = row.index(tok.eos_id) + 1
            row = row[:n] + [pad] * (len(row) - n)
        ids.append(torch.tensor([row], dtype=torch.int64))
    with torch.no_grad():
        _, _, states1 = nets['text_encoder'](ids[0])
        _, pooled, states2 = nets['text_encoder_2'](ids[1])
    return {'input_ids': ids[0].float(), 'input_ids_2': ids[1].float(), 'prompt_embeds': torch.cat([states1[-2], states2[-2]], dim=-1),
            'text_embeds': pooled}


LORA_RANK = 4
LORA_WEIGHT = 0.8
# UNet modules the LoRA adapts besides every transformer Linear: LoCon convolutions (a resnet, the
# downsampler, an upsampler, conv_in) and the time / add embeddings, by diffusers name.
LORA_UNET_EXTRA = ['conv_in', 'down_blocks.0.resnets.0.conv1', 'down_blocks.0.downsamplers.0.conv', 'up_blocks.0.upsamplers.0.conv',
                   'mid_block.resnets.0.conv2', 'up_blocks.2.resnets.1.conv_shortcut', 'time_embedding.linear_1', 'add_embedding.linear_1']


def lora_modules(nets: dict) -> list[tuple[str, str, torch.nn.Module]]:
    """(component, kohya key, module) for every module the fixture adapts."""
    out = []
    for name, m in nets['unet'].named_modules():
        if isinstance(m, torch.nn.Linear) and '.attentions.' in name or name in LORA_UNET_EXTRA:
            sgm = unet_to_sgm(name + '.weight')[: -len('.weight')]
            out.append(('unet', 'lora_unet_' + sgm.replace('.', '_'), m))
    for sub, prefix in (('text_encoder', 'lora_te1_'), ('text_encoder_2', 'lora_te2_')):
        for name, m in nets[sub].named_modules():
            if isinstance(m, torch.nn.Linear) and '.layers.' in name:
                out.append((sub, prefix + name.replace('.', '_'), m))
    return out


def kohya_lora(nets: dict, seed: int) -> tuple[dict[str, torch.Tensor], dict[torch.nn.Module, torch.Tensor]]:
    """The LoRA's tensors and, per module, its weight delta at scale 1: up @ down · alpha / rank."""
    g = torch.Generator().manual_seed(seed + 77)
    tensors, deltas = {}, {}
    for _component, key, m in lora_modules(nets):
        w = m.weight
        cin = w.shape[1]
        kernel = list(w.shape[2:])
        down = torch.randn(LORA_RANK, cin, *kernel, generator=g) * (cin * max(1, w[0, 0].numel())) ** -0.5
        up = torch.randn(w.shape[0], LORA_RANK, *([1] * len(kernel)), generator=g) * 0.5 * LORA_RANK ** -0.5
        alpha = torch.tensor(LORA_RANK / 2)
        tensors[f'{key}.lora_down.weight'], tensors[f'{key}.lora_up.weight'], tensors[f'{key}.alpha'] = down, up, alpha
        delta = (up.flatten(1) @ down.flatten(1)).reshape(w.shape) * (alpha / LORA_RANK)
        deltas[m] = delta
    return tensors, deltas


def lora_reference(nets: dict, c: dict, deltas: dict) -> dict[str, torch.Tensor]:
    """unet_reference's call with the LoRA merged into a copy's weights at LORA_WEIGHT."""
    import copy
    unet = copy.deepcopy(nets['unet'])
    originals = dict(nets['unet'].named_modules())
    with torch.no_grad():
        for name, m in unet.named_modules():
            if originals.get(name) in deltas:
                m.weight += LORA_WEIGHT * deltas[originals[name]]
    ref = unet_reference({**nets, 'unet': unet}, c)
    return {'out_sample': ref['out_sample']}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--scale', choices=sorted(sdxl.SCALES), default='toy')
    ap.add_argument('--out', required=True)
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--only', choices=['onnx', 'checkpoints'],
                    help='onnx: only the ONNX folder and the UNet/text references (full scale: the other layouts are ~14 GB each); '
                    'checkpoints: only the single file and the diffusers folder, in float16 as SDXL base ships them, with the '
                    'weights rounded to float16 first so that the UNet reference is computed with exactly the stored weights '
                    '(full scale: what the checkpoint builder converts; no torch.onnx export, which would not fit in 24 GB)')
    ap.add_argument('--threads', type=int, default=int(os.environ.get('IMGPROMPT_TORCH_THREADS', '1')))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = os.path.abspath(a.out)
    started = time.monotonic()
    c = sdxl.SCALES[a.scale]
    nets = sdxl.build(a.scale, a.seed, half_rounded=a.only == 'checkpoints')
    counts = {k: sdxl.count_params(v) for k, v in nets.items()}
    print(f'{a.scale} scale, seed {a.seed}: parameters ' + ', '.join(f'{k} {v:,}' for k, v in counts.items()), flush=True)
    if a.scale == 'full':
        assert counts['unet'] == sdxl.SDXL_UNET_PARAMETERS, counts['unet']

    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.sdxl-random-', dir=parent)
    work = tempfile.mkdtemp(prefix='.sdxl-export-', dir=parent)
    try:
        write_configs(os.path.join(staging, 'onnx'), c, a.seed, ('vae_decoder', 'vae_encoder'))
        files = []
        if a.only != 'checkpoints':
            export_onnx(nets, c, os.path.join(staging, 'onnx'), work)
            print('  onnx folder exported', flush=True)
            files.append('onnx')
        if a.only != 'onnx':
            # --only checkpoints stores float16, as sd_xl_base_1.0.safetensors and the fp16 diffusers variant do.
            dtype = torch.float16 if a.only == 'checkpoints' else None
            write_diffusers(os.path.join(staging, 'diffusers'), nets, c, a.seed, dtype)
            print('  diffusers folder written', flush=True)
            single = f'sdxl-random-{a.scale}.safetensors'
            st.write(os.path.join(staging, single), [st.entry(k, v, dtype if v.is_floating_point() else None) for k, v in sgm_tensors(nets, c).items()], METADATA)
            print('  single file written', flush=True)
            files += ['diffusers', single]
        st.write(os.path.join(staging, 'unet_reference.safetensors'), [st.entry(k, v) for k, v in unet_reference(nets, c).items()])
        print('  UNet reference computed', flush=True)
        if a.only is None:
            # The LoRA's reference merges into a copy of the UNet: twice its size in memory (toy scale only, in practice).
            lora, deltas = kohya_lora(nets, a.seed)
            st.write(os.path.join(staging, 'lora_kohya.safetensors'), [st.entry(k, v) for k, v in lora.items()],
                     {'ss_network_module': 'networks.lora', 'ss_base_model_version': 'sdxl_base_v1-0', 'ss_network_dim': str(LORA_RANK)})
            st.write(os.path.join(staging, 'lora_reference.safetensors'), [st.entry(k, v) for k, v in lora_reference(nets, c, deltas).items()],
                     {'weight': str(LORA_WEIGHT)})
        st.write(os.path.join(staging, 'text_reference.safetensors'),  # tokenizers: the onnx folder's configs
                 [st.entry(k, v) for k, v in text_reference(nets, os.path.join(staging, 'onnx')).items()],
                 {'prompt': TEXT_PROMPT, 'prompt_2': TEXT_PROMPT_2})
        write_json(os.path.join(staging, 'sdxl_random.json'), {
            'generator': 'tools/sdxl_random/make_model.py', 'generator_version': GENERATOR_VERSION, 'scale': a.scale,
            'seed': a.seed, 'parameters': counts, 'files': files,
            'note': 'random weights in Stable Diffusion XL\'s architecture: for engine tests; the images are noise'})
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(staging, 0o777 & ~mask)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    print(f'wrote {out} in {time.monotonic() - started:.1f} s')


if __name__ == '__main__':
    main()
