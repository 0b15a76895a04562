"""Adapter export, run after export.py: ControlNet residual inputs on the UNet, the canny ControlNet, and
the adapter entries of model_index.json; then checks both graphs in onnxruntime-node against PyTorch.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.export_adapters [--checkpoint PATH] [--work DIR]

- unet/model.onnx is re-exported from the same weights with extra inputs down_block_additional_residual_0..5
  and mid_block_additional_residual (float32 [batch, C, h, w], all dims but C dynamic), added to the skip
  tensors and the mid-block output as in diffusers. They are required inputs: without a ControlNet feed
  zeros of shape [1, C, 1, 1] (broadcast by the Add), which gives the base export's output bit for bit.
  (Default initializers would make them optional in the ONNX sense, but onnxruntime then hides them from
  the session's inputs and onnxruntime-node ignores feeds for them.) The base export is kept in
  <work>/adapters/unet_base.onnx for the bit-identity check.
- controlnet/canny/model.onnx: inputs sample, timestep (float32 [batch]), encoder_hidden_states,
  controlnet_cond (float32 [batch, 3, 8h, 8w], 0..1), conditioning_scale (float32 scalar); outputs
  down_block_res_sample_0..5, mid_block_res_sample; plus a diffusers-style config.json.
- model_index.json gains imgprompt.controlnets and imgprompt.loras.
"""
from __future__ import annotations

import argparse
import base64
import glob
import json
import os
import shutil
import subprocess

import numpy as np
import onnx
import torch

from . import export
from .adapter_common import DEFAULT_CHECKPOINT, DEFAULT_WORK, HERE, REPO, adapter_dir
from .models import count_params, skip_channels
from .train_controlnet import load_trained

RESIDUAL = 'down_block_additional_residual_{}'
MID_RESIDUAL = 'mid_block_additional_residual'
CN_DOWN = 'down_block_res_sample_{}'
CN_MID = 'mid_block_res_sample'


class UNetResidualOnnx(torch.nn.Module):
    def __init__(self, unet, n):
        super().__init__()
        self.unet, self.n = unet, n

    def forward(self, sample, timestep, encoder_hidden_states, *residuals):
        return self.unet(sample, timestep, encoder_hidden_states, list(residuals[:self.n]), residuals[self.n])


class ControlNetOnnx(torch.nn.Module):
    def __init__(self, cn):
        super().__init__()
        self.cn = cn

    def forward(self, sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale):
        return self.cn(sample, timestep, encoder_hidden_states, controlnet_cond, conditioning_scale)


def _has_residual_inputs(path: str) -> bool:
    m = onnx.load(path, load_external_data=False)
    return any(i.name == MID_RESIDUAL for i in m.graph.input)


def export_unet(unet, out: str, base_copy: str) -> list[int]:
    path = os.path.join(out, 'unet', 'model.onnx')
    if not _has_residual_inputs(path):
        shutil.copyfile(path, base_copy)
    if not os.path.exists(base_copy):
        raise SystemExit(f'{path} already has residual inputs and {base_copy} is missing: rerun export.py first')
    chans = skip_channels(unet)
    d = unet.config['cross_attention_dim']
    sample = torch.randn(2, 4, 16, 16)
    with torch.no_grad():
        cn_like = _residuals_for(unet, sample)
    names = [RESIDUAL.format(i) for i in range(len(chans))] + [MID_RESIDUAL]
    axes = {'sample': {0: 'batch', 2: 'height', 3: 'width'}, 'timestep': {0: 'batch'},
            'encoder_hidden_states': {0: 'batch', 1: 'sequence'}, 'out_sample': {0: 'batch', 2: 'height', 3: 'width'}}
    for i, n in enumerate(names):
        axes[n] = {0: f'res{i}_batch', 2: f'res{i}_height', 3: f'res{i}_width'}
    with torch.no_grad():
        export._export(UNetResidualOnnx(unet, len(chans)), (sample, torch.tensor([500.0, 500.0]), torch.randn(2, 77, d),
                                                           *cn_like), path,
                       ['sample', 'timestep', 'encoder_hidden_states'] + names, ['out_sample'], axes)
    return chans


def _residuals_for(unet, sample):
    """Random tensors shaped like the ControlNet outputs for `sample` (the tracer records the adds)."""
    from .models import ControlNetModel
    cn = ControlNetModel(unet)
    b, _, h, w = sample.shape
    shapes = [r.shape for r in cn(sample, torch.zeros(b), torch.zeros(b, 77, unet.config['cross_attention_dim']),
                                  torch.zeros(b, 3, 8 * h, 8 * w))]
    return [torch.randn(s) * 0.1 for s in shapes]


def export_controlnet(cn, out: str, info: dict) -> str:
    folder = os.path.join(out, 'controlnet', 'canny')
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, 'model.onnx')
    n = len(cn.controlnet_down_blocks)
    outputs = [CN_DOWN.format(i) for i in range(n)] + [CN_MID]
    axes = {'sample': {0: 'batch', 2: 'height', 3: 'width'}, 'timestep': {0: 'batch'},
            'encoder_hidden_states': {0: 'batch', 1: 'sequence'},
            'controlnet_cond': {0: 'batch', 2: 'image_height', 3: 'image_width'}}
    for i, o in enumerate(outputs):
        axes[o] = {0: 'batch', 2: f'res{i}_height', 3: f'res{i}_width'}
    d = cn.config['cross_attention_dim']
    with torch.no_grad():
        export._export(ControlNetOnnx(cn), (torch.randn(2, 4, 16, 16), torch.tensor([500.0, 500.0]), torch.randn(2, 77, d),
                                            torch.rand(2, 3, 128, 128), torch.tensor(1.0)),
                       path, ['sample', 'timestep', 'encoder_hidden_states', 'controlnet_cond', 'conditioning_scale'],
                       outputs, axes)
    c = cn.config
    export.write_json(os.path.join(folder, 'config.json'), {
        '_class_name': 'ControlNetModel',
        '_diffusers_version': export.DIFFUSERS_VERSION,
        'in_channels': c['in_channels'],
        'conditioning_channels': 3,
        'flip_sin_to_cos': True,
        'freq_shift': 0,
        'down_block_types': c['down_block_types'],
        'only_cross_attention': False,
        'block_out_channels': c['block_out_channels'],
        'layers_per_block': c['layers_per_block'],
        'downsample_padding': 1,
        'mid_block_scale_factor': 1,
        'act_fn': 'silu',
        'norm_eps': 1e-6,
        'cross_attention_dim': c['cross_attention_dim'],
        'attention_head_dim': c['attention_head_dim'],
        'use_linear_projection': True,
        'controlnet_conditioning_channel_order': 'rgb',
        'conditioning_embedding_out_channels': c['conditioning_embedding_out_channels'],
        'global_pool_conditions': False,
        'imgprompt': {
            'base_model': 'tiny-shapes',
            'preprocessor': 'canny',
            'hint': 'controlnet_cond float32 [batch, 3, height, width] at the image size (8x the latent), '
                    'values 0..1: the edge mask (255 -> 1.0) copied into all three channels',
            'conditioning_scale': 'float32 scalar (shape []); every output is multiplied by it',
            'outputs': [CN_DOWN.format(i) for i in range(n)] + [CN_MID],
            'unet_inputs': [RESIDUAL.format(i) for i in range(n)] + [MID_RESIDUAL],
            'residual_channels': skip_channels_of(cn) + [c['block_out_channels'][-1]],
            'timestep': 'float32 [batch], the same tensor the UNet gets',
            'parameters': count_params(cn),
            'train_steps': info.get('steps'),
            'train_seconds': info.get('train_seconds'),
        },
    })
    return path


def skip_channels_of(cn) -> list[int]:
    return [m.out_channels for m in cn.controlnet_down_blocks]


def update_index(out: str) -> dict:
    path = os.path.join(out, 'model_index.json')
    with open(path, encoding='utf-8') as f:
        index = json.load(f)
    ip = index.setdefault('imgprompt', {})
    if os.path.exists(os.path.join(out, 'controlnet', 'canny', 'model.onnx')):
        # One ControlNet reads all three hint types: trained on Canny edges with dropped and jittered
        # segments, it follows thinned scribbles and ready-made edge images too.
        ip['controlnets'] = {'canny': 'controlnet/canny', 'scribble': 'controlnet/canny', 'raw': 'controlnet/canny'}
    loras = sorted(os.path.relpath(p, out).replace(os.sep, '/') for p in glob.glob(os.path.join(out, 'loras', '*.safetensors')))
    if loras:
        ip['loras'] = loras
    export.write_json(path, index)
    return index


def _b64(t: torch.Tensor) -> dict:
    a = t.detach().numpy().astype(np.float32)
    return {'shape': list(a.shape), 'base64': base64.b64encode(a.tobytes()).decode('ascii')}


def reference_case(unet, cn, path: str) -> None:
    """PyTorch inputs and outputs for check_adapters_onnx.mjs (a 96x160 image, batch 2)."""
    g = torch.Generator().manual_seed(11)
    sample = torch.randn(2, 4, 12, 20, generator=g)
    t = torch.tensor([981.0, 41.0])
    ctx = torch.randn(2, 77, unet.config['cross_attention_dim'], generator=g)
    hint = (torch.rand(2, 1, 96, 160, generator=g) > 0.9).float().expand(-1, 3, -1, -1).contiguous()
    scale = 0.8
    with torch.no_grad():
        res = cn(sample, t, ctx, hint, scale)
        plain = unet(sample, t, ctx)
        controlled = unet(sample, t, ctx, list(res[:-1]), res[-1])
        rand = [torch.randn(r.shape, generator=g) * 0.1 for r in res]
        out_random = unet(sample, t, ctx, rand[:-1], rand[-1])
    case = {'random_residuals': [_b64(r) for r in rand], 'out_random': _b64(out_random),'sample': _b64(sample), 'timestep': _b64(t), 'encoder_hidden_states': _b64(ctx), 'controlnet_cond': _b64(hint),
            'conditioning_scale': scale, 'out_plain': _b64(plain), 'out_controlled': _b64(controlled),
            'residuals': [_b64(r) for r in res], 'tolerance_abs': 1e-4}
    with open(path, 'w') as f:
        json.dump(case, f)


def folder_bytes(folder: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, fs in os.walk(folder) for f in fs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=DEFAULT_CHECKPOINT)
    ap.add_argument('--work', default=DEFAULT_WORK)
    ap.add_argument('--out', default=os.path.join(REPO, 'models', 'tiny-shapes'))
    ap.add_argument('--results', default=os.path.join(HERE, 'results'))
    ap.add_argument('--skip-check', action='store_true')
    args = ap.parse_args()
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_THREADS', '2')))
    _, _, unet, _, _, _ = export.load_components(args.checkpoint)
    base_copy = os.path.join(adapter_dir(args.work), 'unet_base.onnx')
    chans = export_unet(unet, args.out, base_copy)
    cn, info = load_trained(args.work, unet)
    export_controlnet(cn, args.out, info)
    update_index(args.out)
    result = {'residual_channels': chans + [chans[-1]],
              'bytes': {'unet/model.onnx': os.path.getsize(os.path.join(args.out, 'unet', 'model.onnx')),
                        'unet_base.onnx': os.path.getsize(base_copy),
                        'controlnet/canny': folder_bytes(os.path.join(args.out, 'controlnet')),
                        'loras': folder_bytes(os.path.join(args.out, 'loras')) if os.path.isdir(os.path.join(args.out, 'loras')) else 0,
                        'models/tiny-shapes total': folder_bytes(args.out)},
              'controlnet': info}
    if not args.skip_check:
        case = os.path.join(adapter_dir(args.work), 'onnx_case.json')
        reference_case(unet, cn, case)
        p = subprocess.run(['node', os.path.join(HERE, 'check_adapters_onnx.mjs'), args.out, base_copy, case],
                           capture_output=True, text=True)
        print(p.stdout + p.stderr)
        result['onnx_check'] = {'ok': p.returncode == 0, 'lines': p.stdout.strip().splitlines()}
        if p.returncode != 0:
            raise SystemExit('onnxruntime check failed')
    export.write_json(os.path.join(args.results, 'adapters_export.json'), result)
    print(json.dumps(result, indent=2))


if __name__ == '__main__':
    main()
