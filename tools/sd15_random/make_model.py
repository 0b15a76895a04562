"""Writes a seeded random-weight Stable Diffusion 1.5 model folder in the optimum / diffusers ONNX layout.

    python3 -m tools.sd15_random.make_model [--scale full|toy] [--out DIR] [--seed N] [--no-check]

(from the repository root; make_model.sh does that from anywhere)

full: SD 1.5's exact architecture (UNet 859,520,964 parameters; UNet weights in unet/model.onnx_data,
about 3.4 GB; the folder is about 4.3 GB). toy: the same structure, narrower, for tests. Graph inputs,
outputs, dtypes and dynamic axes are those of optimum's Stable Diffusion export: text encoder
input_ids int32 [batch, sequence] -> last_hidden_state, pooler_output; UNet sample float32
[batch, 4, h, w], timestep int64 [steps], encoder_hidden_states -> out_sample; VAE decoder latent_sample
-> sample; VAE encoder sample -> latent_parameters (mean and log-variance). Opset 17.

The folder is assembled beside its destination and renamed into place when complete, so a reader never
sees half a model. random_weights.json records what made it.
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time

import onnx
import torch
from onnx import TensorProto

from tools.tiny_model.export import TextEncoderOnnx, UNetOnnx, VAEDecoderOnnx  # the tiny model's export wrappers

from . import sd15
# The configs and tokenizer are shared with make_checkpoints.py's diffusers folder.
from .configs import DIFFUSERS_VERSION, write_configs, write_json, write_tokenizer  # noqa: F401

HERE = os.path.dirname(os.path.abspath(__file__))

OPSET = 17
GENERATOR_VERSION = 2  # 2: the toy text encoder has one 64-wide head (was four 16-wide)
DATA_FILE = 'model.onnx_data'
# Tensors smaller than this stay inside model.onnx (as onnx's save_as_external_data does by default).
EXTERNAL_THRESHOLD = 1024
ALIGN = 4096


def default_out(scale: str) -> str:
    cache = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.path.join(cache, 'imgprompt', 'sd15-random' + ('' if scale == 'full' else '-' + scale))


# ------------------------------------------------------------------------------------------ export

class VAEEncoderOnnx(torch.nn.Module):
    def __init__(self, vae):
        super().__init__()
        self.vae = vae

    def forward(self, sample):
        return self.vae.encode_parameters(sample)


def torch_export(module, args, path, inputs, outputs, axes) -> None:
    """torch writes every initializer into its own file beside `path` when the model exceeds 2 GB."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(module, args, path, input_names=inputs, output_names=outputs, dynamic_axes=axes,
                          opset_version=OPSET, do_constant_folding=True)


def _all_tensors(model: onnx.ModelProto):
    """Initializers and tensor-valued node attributes, subgraphs included."""
    def graph_tensors(g):
        yield from g.initializer
        for node in g.node:
            for attr in node.attribute:
                if attr.HasField('t'):
                    yield attr.t
                yield from attr.tensors
                if attr.HasField('g'):
                    yield from graph_tensors(attr.g)
                for sub in attr.graphs:
                    yield from graph_tensors(sub)
    yield from graph_tensors(model.graph)


def _copy_range(src: str, offset: int, length: int | None, out) -> int:
    """Streams bytes [offset, offset + length) of src into out in 64 MiB pieces; returns the count."""
    copied = 0
    with open(src, 'rb') as f:
        f.seek(offset)
        while length is None or copied < length:
            want = 1 << 26 if length is None else min(1 << 26, length - copied)
            chunk = f.read(want)
            if not chunk:
                break
            out.write(chunk)
            copied += len(chunk)
    if length is not None and copied != length:
        raise IOError(f'{src}: expected {length} bytes at offset {offset}, found {copied}')
    return copied


def write_with_external_data(src_path: str, dst_dir: str) -> int:
    """Rewrites the model at src_path as dst_dir/model.onnx with every tensor of EXTERNAL_THRESHOLD bytes
    or more in one dst_dir/model.onnx_data, as optimum lays out a large UNet. Never holds more than one
    tensor's bytes in memory: external tensors (torch's one-file-per-tensor output) are copied
    file-to-file, inline ones are moved out of the proto. Returns the data file's size."""
    model = onnx.load(src_path, load_external_data=False)
    src_dir = os.path.dirname(os.path.abspath(src_path))
    os.makedirs(dst_dir, exist_ok=True)
    with open(os.path.join(dst_dir, DATA_FILE), 'wb') as out:
        for t in _all_tensors(model):
            external = t.data_location == TensorProto.EXTERNAL
            if not external and len(t.raw_data) < EXTERNAL_THRESHOLD:
                continue
            pos = out.tell()
            if pos % ALIGN:
                out.write(b'\0' * (ALIGN - pos % ALIGN))
                pos = out.tell()
            if external:
                info = {e.key: e.value for e in t.external_data}
                length = int(info['length']) if 'length' in info else None
                n = _copy_range(os.path.join(src_dir, info['location']), int(info.get('offset', 0)), length, out)
            else:
                out.write(t.raw_data)
                n = len(t.raw_data)
                t.ClearField('raw_data')
            del t.external_data[:]
            t.data_location = TensorProto.EXTERNAL
            for key, value in (('location', DATA_FILE), ('offset', str(pos)), ('length', str(n))):
                entry = t.external_data.add()
                entry.key, entry.value = key, value
        size = out.tell()
    onnx.save(model, os.path.join(dst_dir, 'model.onnx'))
    return size


def export_all(nets: dict, c: dict, root: str, work: str, scale: str) -> None:
    t, u, v = c['text'], c['unet'], c['vae']
    ids = torch.full((1, 77), 49407, dtype=torch.int32)
    ids[0, 0] = 49406
    torch_export(TextEncoderOnnx(nets['text_encoder']), (ids,), os.path.join(root, 'text_encoder', 'model.onnx'),
                 ['input_ids'], ['last_hidden_state', 'pooler_output'],
                 {'input_ids': {0: 'batch_size', 1: 'sequence_length'},
                  'last_hidden_state': {0: 'batch_size', 1: 'sequence_length'}, 'pooler_output': {0: 'batch_size'}})
    print('  text_encoder exported', flush=True)

    staged = os.path.join(work, 'unet', 'model.onnx')
    args = (torch.zeros(2, 4, 8, 8), torch.tensor([999, 999], dtype=torch.int64),
            torch.zeros(2, 77, t['hidden_size']))
    torch_export(UNetOnnx(nets['unet']), args, staged, ['sample', 'timestep', 'encoder_hidden_states'], ['out_sample'],
                 {'sample': {0: 'batch_size', 1: 'num_channels', 2: 'height', 3: 'width'}, 'timestep': {0: 'steps'},
                  'encoder_hidden_states': {0: 'batch_size', 1: 'sequence_length'},
                  'out_sample': {0: 'batch_size', 1: 'num_channels', 2: 'height', 3: 'width'}})
    if scale == 'toy':
        # The toy UNet is below 2 GB, so torch wrote it inline. Pass it through external data once more so
        # the streaming file-to-file copy that the full-size export takes runs here too.
        write_with_external_data(staged, os.path.join(work, 'unet-external'))
        staged = os.path.join(work, 'unet-external', 'model.onnx')
    size = write_with_external_data(staged, os.path.join(root, 'unet'))
    print(f'  unet exported ({size / 1e6:.1f} MB of external data)', flush=True)

    lc = v['latent_channels']
    torch_export(VAEDecoderOnnx(nets['vae']), (torch.zeros(1, lc, 8, 8),), os.path.join(root, 'vae_decoder', 'model.onnx'),
                 ['latent_sample'], ['sample'],
                 {'latent_sample': {0: 'batch_size', 1: 'num_channels_latent', 2: 'height_latent', 3: 'width_latent'},
                  'sample': {0: 'batch_size', 1: 'num_channels', 2: 'height', 3: 'width'}})
    torch_export(VAEEncoderOnnx(nets['vae']), (torch.zeros(1, 3, 64, 64),), os.path.join(root, 'vae_encoder', 'model.onnx'),
                 ['sample'], ['latent_parameters'],
                 {'sample': {0: 'batch_size', 1: 'num_channels', 2: 'height', 3: 'width'},
                  'latent_parameters': {0: 'batch_size', 2: 'height_latent', 3: 'width_latent'}})
    print('  vae exported', flush=True)


# ------------------------------------------------------------------------------------------ checks

def check_finite(nets: dict, c: dict, steps: int = 50) -> float:
    """A 50-step Euler run (guidance 7.5, batch 2) at 8x8 latents on SD's noise schedule, then a decode;
    raises if anything is not finite. Returns the largest latent magnitude seen."""
    g = torch.Generator().manual_seed(0)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2
    alphas_bar = torch.cumprod(1 - betas, 0)
    sigmas_all = ((1 - alphas_bar) / alphas_bar) ** 0.5
    timesteps = list(range(999, -1, -1000 // steps))[:steps]
    sigmas = [float(sigmas_all[t]) for t in timesteps] + [0.0]
    ids = torch.full((2, 77), 49407, dtype=torch.int32)
    ids[:, 0] = 49406
    ids[1, 1:6] = torch.tensor([320, 1000, 20000, 40000, 49000], dtype=torch.int32)
    with torch.no_grad():
        ctx, pooled = nets['text_encoder'](ids)
        x = torch.randn(1, 4, 8, 8, generator=g) * sigmas[0]
        worst = 0.0
        for i, t in enumerate(timesteps):
            inp = torch.cat([x, x]) / (sigmas[i] ** 2 + 1) ** 0.5
            eps = nets['unet'](inp, torch.tensor([t, t]), ctx)
            eps = eps[0:1] + 7.5 * (eps[1:2] - eps[0:1])
            x = x + eps * (sigmas[i + 1] - sigmas[i])
            if not torch.isfinite(x).all():
                raise ValueError(f'latents not finite after step {i + 1}')
            worst = max(worst, float(x.abs().max()))
        image = nets['vae'].decode(x / c['vae']['scaling_factor'])
        for name, value in (('last_hidden_state', ctx), ('pooler_output', pooled), ('decoded image', image)):
            if not torch.isfinite(value).all():
                raise ValueError(f'{name} not finite')
    return worst


def folder_size(root: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(root) for f in files)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--scale', choices=sorted(sd15.SCALES), default='full')
    ap.add_argument('--out', help='model folder to write (default: the imgprompt cache folder)')
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--no-check', action='store_true', help='skip the 50-step finiteness check')
    ap.add_argument('--threads', type=int, default=int(os.environ.get('IMGPROMPT_TORCH_THREADS', '1')))
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = os.path.abspath(a.out or default_out(a.scale))
    started = time.monotonic()
    c = sd15.SCALES[a.scale]

    nets = sd15.build(a.scale, a.seed)
    counts = {'text_encoder': sd15.count_params(nets['text_encoder']), 'unet': sd15.count_params(nets['unet']),
              'vae_encoder': sd15.count_params(nets['vae'].encoder) + sd15.count_params(nets['vae'].quant_conv),
              'vae_decoder': sd15.count_params(nets['vae'].decoder) + sd15.count_params(nets['vae'].post_quant_conv)}
    print(f'{a.scale} scale, seed {a.seed}: parameters ' + ', '.join(f'{k} {v:,}' for k, v in counts.items()), flush=True)
    if a.scale == 'full':
        error = abs(counts['unet'] - sd15.SD15_UNET_PARAMETERS) / sd15.SD15_UNET_PARAMETERS
        assert error <= 0.001, f'UNet has {counts["unet"]:,} parameters; SD 1.5 has {sd15.SD15_UNET_PARAMETERS:,}'
    check = None
    if not a.no_check:
        check = check_finite(nets, c)
        print(f'  50-step check: finite, max |latent| {check:.3f}', flush=True)

    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix='.sd15-random-', dir=parent)
    work = tempfile.mkdtemp(prefix='.sd15-export-', dir=parent)
    try:
        write_configs(staging, c)
        write_tokenizer(os.path.join(staging, 'tokenizer'), c['text']['vocab_size'], a.seed)
        export_all(nets, c, staging, work, a.scale)
        write_json(os.path.join(staging, 'random_weights.json'), {
            'generator': 'tools/sd15_random/make_model.py', 'generator_version': GENERATOR_VERSION,
            'scale': a.scale, 'seed': a.seed, 'parameters': counts, 'max_abs_latent_50_steps': check,
            'note': 'random weights in Stable Diffusion 1.5\'s architecture: for engine and scale tests; the images are noise'})
        mask = os.umask(0)
        os.umask(mask)
        os.chmod(staging, 0o777 & ~mask)  # mkdtemp made it private
        if os.path.exists(out):
            shutil.rmtree(out)
        os.rename(staging, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(staging, ignore_errors=True)
    print(f'wrote {out}: {folder_size(out) / 1e9:.3f} GB in {time.monotonic() - started:.1f} s')


if __name__ == '__main__':
    main()
