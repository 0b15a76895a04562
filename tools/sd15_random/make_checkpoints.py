"""Writes the seeded random SD 1.5 weights as the files users actually have: a single-file checkpoint in the
original LDM / CompVis key layout (fp32 and fp16) and a diffusers safetensors folder.

    python3 -m tools.sd15_random.make_checkpoints [--scale toy|full] [--out DIR] [--seed N] [--check]

(from the repository root, OMP_WAIT_POLICY=PASSIVE; make_checkpoints.sh does that from anywhere) writes

    DIR/sd15-random-<scale>.safetensors        LDM layout, float32 (as v1-5-pruned-emaonly.safetensors)
    DIR/sd15-random-<scale>-fp16.safetensors   LDM layout, float16 (integer buffers stay int64)
    DIR/diffusers/                             model_index.json, unet/, vae/, text_encoder/ (safetensors +
                                               config.json), tokenizer/, scheduler/ (as Hugging Face hosts SD 1.5)
    DIR/checkpoints.json                       what made them: scale, seed, files, tensor counts per prefix

The weights are those of sd15.build(scale, seed), the same as make_model.py's ONNX folder for the same
scale and seed; the tokenizer and configs are the same too. The LDM names come from ldm_names.py (the
reference conversion's facts). --check then reads every file back (its own reader), maps each LDM key
back to the module's name through the independent LDM -> diffusers parser, and asserts bit equality with
the module's tensor (fp16: with the tensor rounded to fp16), and checks the layout of a full-scale
SD 1.5 (686 UNet, 248 VAE, 197 CLIP tensors and characteristic shapes) on the 'meta' device, without
allocating it. Without --check only that layout check runs.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

import numpy as np
import torch

from . import ldm_names, sd15
from . import safetensors_file as st
from .configs import DIFFUSERS_VERSION, write_configs, write_json, write_tokenizer

GENERATOR_VERSION = 2  # 2: the toy text encoder has one 64-wide head (was four 16-wide)
METADATA = {'format': 'pt'}


def default_out(scale: str) -> str:
    cache = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(cache, 'imgprompt', 'sd15-random-checkpoints' + ('' if scale == 'full' else '-' + scale))


def file_names(scale: str) -> tuple[str, str]:
    return f'sd15-random-{scale}.safetensors', f'sd15-random-{scale}-fp16.safetensors'


# ------------------------------------------------------------------------------------------ tensors

def position_ids(c: dict) -> torch.Tensor:
    """transformers' CLIPTextEmbeddings.position_ids buffer, [1, max_positions] int64, which SD 1.x
    checkpoints carry (saved while transformers kept it persistent)."""
    return torch.arange(c['text']['max_position_embeddings'], dtype=torch.int64).unsqueeze(0)


def component_tensors(nets: dict, c: dict) -> dict[str, dict[str, torch.Tensor]]:
    """{component: {diffusers / transformers name: tensor}}: the modules' state dicts, plus position_ids."""
    text = dict(nets['text_encoder'].state_dict())
    text['text_model.embeddings.position_ids'] = position_ids(c)
    return {'unet': dict(nets['unet'].state_dict()), 'vae': dict(nets['vae'].state_dict()), 'text_encoder': text}


def schedule_buffers(steps: int = 1000, start: float = 0.00085, end: float = 0.012) -> dict[str, torch.Tensor]:
    """LatentDiffusion's registered schedule buffers for SD 1.x's config (linear_start 0.00085, linear_end
    0.012, 1000 steps, 'linear' = squared linspace of square roots, v_posterior 0), float64 math, stored
    float32."""
    betas = np.linspace(start ** 0.5, end ** 0.5, steps, dtype=np.float64) ** 2
    alphas = 1.0 - betas
    ac = np.cumprod(alphas)
    ac_prev = np.append(1.0, ac[:-1])
    post_var = betas * (1.0 - ac_prev) / (1.0 - ac)
    values = {
        'betas': betas, 'alphas_cumprod': ac, 'alphas_cumprod_prev': ac_prev,
        'sqrt_alphas_cumprod': np.sqrt(ac), 'sqrt_one_minus_alphas_cumprod': np.sqrt(1.0 - ac),
        'log_one_minus_alphas_cumprod': np.log(1.0 - ac), 'sqrt_recip_alphas_cumprod': np.sqrt(1.0 / ac),
        'sqrt_recipm1_alphas_cumprod': np.sqrt(1.0 / ac - 1.0), 'posterior_variance': post_var,
        'posterior_log_variance_clipped': np.log(np.maximum(post_var, 1e-20)),
        'posterior_mean_coef1': betas * np.sqrt(ac_prev) / (1.0 - ac),
        'posterior_mean_coef2': (1.0 - ac_prev) * np.sqrt(alphas) / (1.0 - ac),
    }
    assert sorted(values) == sorted(ldm_names.SCHEDULE_BUFFERS)
    return {k: torch.from_numpy(v.astype(np.float32)) for k, v in values.items()}


def ldm_entries(tensors: dict, half: bool, schedule: bool) -> list[st.Entry]:
    """The single-file checkpoint's entries: LDM names, LDM shapes, fp32 or fp16 (floating tensors only)."""
    out = []
    for component, named in tensors.items():
        for name, t in named.items():
            key = ldm_names.to_ldm(component, name)
            shape = ldm_names.vae_weight_to_ldm(key, list(t.shape)) if component == 'vae' else list(t.shape)
            dtype = torch.float16 if half and t.is_floating_point() else t.dtype
            out.append(st.Entry(key, dtype, shape, lambda t=t, dtype=dtype, shape=shape: t.to(dtype).reshape(shape)))
    if schedule:
        for key, t in schedule_buffers().items():
            out.append(st.entry(key, t, torch.float16 if half else None))
    return out


def count_by_prefix(keys) -> dict[str, int]:
    counts = {ldm_names.UNET: 0, ldm_names.VAE: 0, ldm_names.CLIP: 0, 'other': 0}
    for k in keys:
        prefix = next((p for p in (ldm_names.UNET, ldm_names.VAE, ldm_names.CLIP) if k.startswith(p)), 'other')
        counts[prefix] += 1
    return counts


# ------------------------------------------------------------------------------------------ writing

def write_diffusers(folder: str, tensors: dict, c: dict, seed: int, legacy_vae_names: bool) -> dict[str, int]:
    """The diffusers folder, as Hugging Face hosts SD 1.5 (float32 safetensors per component)."""
    write_configs(folder, c, vae_dirs=('vae',))
    write_tokenizer(os.path.join(folder, 'tokenizer'), c['text']['vocab_size'], seed)
    files = {'unet': ('unet', 'diffusion_pytorch_model.safetensors'),
             'vae': ('vae', 'diffusion_pytorch_model.safetensors'),
             'text_encoder': ('text_encoder', 'model.safetensors')}
    sizes = {}
    for component, (sub, name) in files.items():
        named = tensors[component]
        if component == 'vae' and legacy_vae_names:
            named = {legacy_vae_name(k): v for k, v in named.items()}
        path = os.path.join(folder, sub, name)
        sizes[f'{sub}/{name}'] = st.write(path, [st.entry(k, v) for k, v in named.items()], METADATA)
    return sizes


def legacy_vae_name(name: str) -> str:
    """to_q / to_k / to_v / to_out.0 -> query / key / value / proj_attn (diffusers' AttentionBlock names
    before 0.15, still in many hub uploads of SD 1.x VAEs; group_norm is unchanged)."""
    for new, old in ldm_names.VAE_ATTENTION_LEGACY.items():
        marker = f'.mid_block.attentions.0.{new}.'
        if marker in name:
            return name.replace(marker, f'.mid_block.attentions.0.{old}.')
    return name


def folder_size(root: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)


# ------------------------------------------------------------------------------------------ checks

def meta_nets(scale: str) -> dict:
    """The three networks with every parameter on the 'meta' device: shapes and names, no memory."""
    real_empty = torch.empty

    def meta_empty(*args, **kwargs):
        if kwargs.get('device') is None:
            kwargs['device'] = 'meta'
        return real_empty(*args, **kwargs)

    c = sd15.SCALES[scale]
    torch.empty = meta_empty
    try:
        nets = {'text_encoder': sd15.CLIPTextModel(c['text']), 'unet': sd15.UNet2DConditionModel(c['unet']),
                'vae': sd15.AutoencoderKL(c['vae'])}
    finally:
        torch.empty = real_empty
    for net in nets.values():
        assert all(p.is_meta for p in net.parameters())
    return nets


def expected_layout(tensors: dict, schedule: bool) -> dict[str, list[int]]:
    """{LDM key: LDM shape} for the given component tensors (real or meta)."""
    layout = {}
    for component, named in tensors.items():
        for name, t in named.items():
            key = ldm_names.to_ldm(component, name)
            layout[key] = ldm_names.vae_weight_to_ldm(key, list(t.shape)) if component == 'vae' else list(t.shape)
    if schedule:
        layout.update({k: [1000] for k in ldm_names.SCHEDULE_BUFFERS})
    return layout


def check_layout(scale: str, tensors: dict, layout: dict[str, list[int]]) -> None:
    """The layout against the reference facts and the LDM -> diffusers parser: one-to-one onto the modules'
    names, shapes agreeing after the reshape rules; at full scale, a real SD 1.5's counts per prefix
    (686 / 248 / 197) and characteristic shapes. (The toy scale has the same blocks, but where its narrower
    widths make a block's input and output channels equal there is no shortcut convolution: 684 UNet and
    244 VAE tensors, 37 CLIP tensors for its two layers.)"""
    seen = {component: set() for component in tensors}
    for key, shape in layout.items():
        back = ldm_names.from_ldm(key)
        if back is None:
            continue
        component, name = back
        assert name in tensors[component], f'{key} parses to {component}.{name}, which the module does not have'
        assert name not in seen[component], f'{key}: two LDM keys map to {component}.{name}'
        seen[component].add(name)
        want = list(tensors[component][name].shape)
        assert ldm_names.weight_from_ldm(key, shape) == want, f'{key}: {shape} does not reshape to {want}'
    for component, names in tensors.items():
        missing = set(names) - seen[component]
        assert not missing, f'{component}: no LDM key for {sorted(missing)[:5]}'
    counts = count_by_prefix(layout)
    want = {ldm_names.UNET: len(tensors['unet']), ldm_names.VAE: len(tensors['vae']),
            ldm_names.CLIP: len(tensors['text_encoder'])}
    for prefix, n in want.items():
        assert counts[prefix] == n, f'{prefix}: {counts[prefix]} tensors, expected {n}'
    if scale == 'full':
        for prefix, n in ldm_names.FULL_COUNTS.items():
            assert counts[prefix] == n, f'{prefix}: {counts[prefix]} tensors, a real SD 1.5 has {n}'
        for key, shape in ldm_names.FULL_SHAPES.items():
            assert layout.get(key) == shape, f'{key}: {layout.get(key)}, a real SD 1.5 has {shape}'


def check_full_layout_on_meta(schedule: bool) -> dict[str, int]:
    nets = meta_nets('full')
    c = sd15.SCALES['full']
    text = dict(nets['text_encoder'].state_dict())
    text['text_model.embeddings.position_ids'] = position_ids(c)
    tensors = {'unet': dict(nets['unet'].state_dict()), 'vae': dict(nets['vae'].state_dict()), 'text_encoder': text}
    layout = expected_layout(tensors, schedule)
    check_layout('full', tensors, layout)
    assert sd15.count_params(nets['unet']) == sd15.SD15_UNET_PARAMETERS
    return count_by_prefix(layout)


def same_bits(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return a.contiguous().numpy().tobytes() == b.contiguous().numpy().tobytes() if a.dtype != torch.float16 else \
        torch.equal(a.view(torch.int16), b.view(torch.int16))


def check_ldm_file(path: str, scale: str, tensors: dict, half: bool, schedule: bool) -> dict[str, int]:
    header, meta, start = st.read_header(path)
    assert meta == METADATA, f'{path}: metadata {meta}'
    layout = {k: v['shape'] for k, v in header.items()}
    assert layout == expected_layout(tensors, schedule), f'{path}: keys or shapes differ from the expected layout'
    check_layout(scale, tensors, layout)
    reference = schedule_buffers() if schedule else {}
    for key, info in header.items():
        got = st.read_tensor(path, info, start)
        back = ldm_names.from_ldm(key)
        if back is None:
            want = reference[key]
        else:
            component, name = back
            want = tensors[component][name]
            got = got.reshape(ldm_names.weight_from_ldm(key, list(got.shape)))
        if want.is_floating_point() and half:
            want = want.to(torch.float16)
        assert info['dtype'] == st.DTYPE_NAMES[want.dtype], f'{path}: {key} is {info["dtype"]}'
        assert same_bits(got, want), f'{path}: {key} differs from the module\'s tensor'
    return count_by_prefix(header)


def check_diffusers(folder: str, tensors: dict, legacy_vae_names: bool) -> None:
    index = json.load(open(os.path.join(folder, 'model_index.json')))
    for component, sub, name in (('unet', 'unet', 'diffusion_pytorch_model.safetensors'),
                                 ('vae', 'vae', 'diffusion_pytorch_model.safetensors'),
                                 ('text_encoder', 'text_encoder', 'model.safetensors')):
        assert sub in index, f'model_index.json lacks {sub}'
        json.load(open(os.path.join(folder, sub, 'config.json')))
        path = os.path.join(folder, sub, name)
        header, meta, start = st.read_header(path)
        assert meta == METADATA, f'{path}: metadata {meta}'
        named = tensors[component]
        if component == 'vae' and legacy_vae_names:
            named = {legacy_vae_name(k): v for k, v in named.items()}
        assert set(header) == set(named), f'{path}: keys differ from the module\'s state dict'
        for key, info in header.items():
            assert same_bits(st.read_tensor(path, info, start), named[key]), f'{path}: {key} differs'
    for f in ('tokenizer/vocab.json', 'tokenizer/merges.txt', 'scheduler/scheduler_config.json'):
        assert os.path.isfile(os.path.join(folder, f)), f'{folder}: {f} missing'


# ------------------------------------------------------------------------------------------ main

def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--scale', choices=sorted(sd15.SCALES), default='full')
    ap.add_argument('--out', help='folder to write into (default: the imgprompt cache folder)')
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--check', action='store_true', help='read every file back and compare with the modules')
    ap.add_argument('--no-schedule-buffers', action='store_true',
                    help='leave out the 12 DDPM schedule buffers (alphas_cumprod, ...), as many merged checkpoints do')
    ap.add_argument('--legacy-vae-names', action='store_true',
                    help='diffusers VAE attention as query/key/value/proj_attn (pre-0.15 diffusers, older hub uploads)')
    ap.add_argument('--layout-only', action='store_true', help='only the full-scale layout check on the meta device')
    ap.add_argument('--threads', type=int, default=int(os.environ.get('IMGPROMPT_TORCH_THREADS', '1')))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    schedule = not a.no_schedule_buffers
    started = time.monotonic()

    counts = check_full_layout_on_meta(schedule)
    print('full-scale LDM layout (meta device): ' + ', '.join(f'{k} {v}' for k, v in counts.items())
          + ', as a real SD 1.5 checkpoint', flush=True)
    if a.layout_only:
        return

    out = os.path.abspath(a.out or default_out(a.scale))
    os.makedirs(out, exist_ok=True)
    c = sd15.SCALES[a.scale]
    nets = sd15.build(a.scale, a.seed)
    tensors = component_tensors(nets, c)
    print(f'{a.scale} scale, seed {a.seed}: built in {time.monotonic() - started:.1f} s', flush=True)

    fp32_name, fp16_name = file_names(a.scale)
    sizes = {}
    for name, half in ((fp32_name, False), (fp16_name, True)):
        t0 = time.monotonic()
        sizes[name] = st.write(os.path.join(out, name), ldm_entries(tensors, half, schedule), METADATA)
        print(f'  {name}: {sizes[name] / 1e6:.1f} MB in {time.monotonic() - t0:.1f} s', flush=True)

    t0 = time.monotonic()
    staging = tempfile.mkdtemp(prefix='.diffusers-', dir=out)
    try:
        for name, size in write_diffusers(staging, tensors, c, a.seed, a.legacy_vae_names).items():
            sizes[f'diffusers/{name}'] = size
        write_json(os.path.join(staging, 'random_weights.json'), {
            'generator': 'tools/sd15_random/make_checkpoints.py', 'scale': a.scale, 'seed': a.seed,
            'note': 'random weights in Stable Diffusion 1.5\'s architecture; the same as make_model.py\'s ONNX folder '
                    'for this scale and seed'})
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(staging, 0o777 & ~mask)
        final = os.path.join(out, 'diffusers')
        if os.path.exists(final):
            shutil.rmtree(final)
        os.rename(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f'  diffusers/: {folder_size(os.path.join(out, "diffusers")) / 1e6:.1f} MB in {time.monotonic() - t0:.1f} s',
          flush=True)

    header, _, _ = st.read_header(os.path.join(out, fp32_name))
    record = {'generator': 'tools/sd15_random/make_checkpoints.py', 'generator_version': GENERATOR_VERSION,
              'diffusers_version': DIFFUSERS_VERSION, 'scale': a.scale, 'seed': a.seed,
              'schedule_buffers': schedule, 'legacy_vae_names': a.legacy_vae_names,
              'files': {'ldm_fp32': fp32_name, 'ldm_fp16': fp16_name, 'diffusers': 'diffusers'},
              'sizes': sizes, 'ldm_tensors': count_by_prefix(header)}
    write_json(os.path.join(out, 'checkpoints.json'), record)

    if a.check:
        t0 = time.monotonic()
        for name, half in ((fp32_name, False), (fp16_name, True)):
            got = check_ldm_file(os.path.join(out, name), a.scale, tensors, half, schedule)
            print(f'  check {name}: every tensor equals the module\'s' + (' (fp16-rounded)' if half else '')
                  + '; ' + ', '.join(f'{k} {v}' for k, v in got.items()), flush=True)
        check_diffusers(os.path.join(out, 'diffusers'), tensors, a.legacy_vae_names)
        print(f'  check diffusers/: every tensor equals the module\'s ({time.monotonic() - t0:.1f} s)', flush=True)
    print(f'wrote {out} in {time.monotonic() - started:.1f} s')


if __name__ == '__main__':
    main()
