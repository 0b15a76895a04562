"""LoRA / LoCon adapters for the tiny-shapes UNet: modules, key naming (kohya and diffusers/PEFT), files.

A wrapped layer computes base(x) + multiplier * (alpha / rank) * up(down(x)). For a Linear, down is
[rank, in] and up [out, rank]; for a Conv2d (LoCon), down is a conv with the base's kernel, stride and
padding to `rank` channels and up a 1x1 conv back to the base's output channels.

Key names (module paths are the diffusers ones, e.g. down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k):
- kohya: lora_unet_<path with '.' -> '_'>.lora_down.weight / .lora_up.weight / .alpha (scalar);
- PEFT / diffusers: unet.<path>.lora_A.weight / .lora_B.weight, alpha / rank folded into lora_B.
"""
from __future__ import annotations

import re

import numpy as np
import torch
from torch import nn

from . import safetensors_io

ATTENTION_TARGETS = r'\.attn[12]\.(to_q|to_k|to_v|to_out\.0)$'
# LoCon: the resnet convs of the two highest-resolution up blocks (where texture and edges are drawn).
CONV_TARGETS = r'^up_blocks\.[12]\.resnets\.\d+\.conv[12]$'


class LoRALinear(nn.Module):
    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.lora_down = nn.Linear(base.in_features, rank, bias=False)
        self.lora_up = nn.Linear(rank, base.out_features, bias=False)
        nn.init.kaiming_uniform_(self.lora_down.weight, a=5 ** 0.5)
        nn.init.zeros_(self.lora_up.weight)
        self.rank, self.alpha, self.multiplier = rank, float(alpha), 1.0

    def forward(self, x):
        return self.base(x) + self.lora_up(self.lora_down(x)) * (self.multiplier * self.alpha / self.rank)


class LoRAConv2d(nn.Module):
    def __init__(self, base: nn.Conv2d, rank: int, alpha: float):
        super().__init__()
        self.base = base
        self.lora_down = nn.Conv2d(base.in_channels, rank, base.kernel_size, base.stride, base.padding, bias=False)
        self.lora_up = nn.Conv2d(rank, base.out_channels, 1, bias=False)
        nn.init.kaiming_uniform_(self.lora_down.weight, a=5 ** 0.5)
        nn.init.zeros_(self.lora_up.weight)
        self.rank, self.alpha, self.multiplier = rank, float(alpha), 1.0

    def forward(self, x):
        return self.base(x) + self.lora_up(self.lora_down(x)) * (self.multiplier * self.alpha / self.rank)


def target_paths(unet: nn.Module, convs: bool) -> list[str]:
    out = []
    for name, m in unet.named_modules():
        if isinstance(m, nn.Linear) and re.search(ATTENTION_TARGETS, name):
            out.append(name)
        elif convs and isinstance(m, nn.Conv2d) and re.search(CONV_TARGETS, name):
            out.append(name)
    return out


def _set(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, leaf = path.rpartition('.')
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def inject(unet: nn.Module, paths: list[str], rank: int, alpha: float) -> dict[str, nn.Module]:
    """Wraps the modules at `paths` (in place); returns {path: wrapper}."""
    wrappers = {}
    for p in paths:
        base = unet.get_submodule(p)
        w = LoRALinear(base, rank, alpha) if isinstance(base, nn.Linear) else LoRAConv2d(base, rank, alpha)
        _set(unet, p, w)
        wrappers[p] = w
    return wrappers


def remove(unet: nn.Module) -> None:
    """Undoes inject: puts the base modules back."""
    for name, m in list(unet.named_modules()):
        if isinstance(m, (LoRALinear, LoRAConv2d)):
            _set(unet, name, m.base)


def set_multiplier(unet: nn.Module, multiplier: float) -> None:
    for m in unet.modules():
        if isinstance(m, (LoRALinear, LoRAConv2d)):
            m.multiplier = float(multiplier)


def lora_parameters(wrappers: dict[str, nn.Module]) -> list[nn.Parameter]:
    return [p for w in wrappers.values() for p in (w.lora_down.weight, w.lora_up.weight)]


# ------------------------------------------------------------------------------------------ files

def to_kohya(wrappers: dict[str, nn.Module]) -> dict[str, np.ndarray]:
    out = {}
    for path, w in wrappers.items():
        key = 'lora_unet_' + path.replace('.', '_')
        out[key + '.lora_down.weight'] = w.lora_down.weight.detach().numpy().astype(np.float16)
        out[key + '.lora_up.weight'] = w.lora_up.weight.detach().numpy().astype(np.float16)
        out[key + '.alpha'] = np.array(w.alpha, dtype=np.float16)
    return out


def to_peft(wrappers: dict[str, nn.Module]) -> dict[str, np.ndarray]:
    out = {}
    for path, w in wrappers.items():
        out[f'unet.{path}.lora_A.weight'] = w.lora_down.weight.detach().numpy().astype(np.float32)
        out[f'unet.{path}.lora_B.weight'] = (w.lora_up.weight.detach().numpy() * (w.alpha / w.rank)).astype(np.float32)
    return out


def parse(tensors: dict[str, np.ndarray], unet: nn.Module, source: str = 'lora') -> dict[str, tuple]:
    """{module path: (down float32, up float32, scale)} from kohya or PEFT keys; unknown keys raise."""
    by_kohya = {n.replace('.', '_'): n for n, _ in unet.named_modules() if n}
    groups: dict[str, dict] = {}
    for key, value in tensors.items():
        m = re.match(r'^lora_unet_(.+)\.(lora_down\.weight|lora_up\.weight|alpha)$', key)
        if m:
            if m.group(1) not in by_kohya:
                raise ValueError(f'{source}: key {key} names no UNet module')
            path, part = by_kohya[m.group(1)], {'lora_down.weight': 'down', 'lora_up.weight': 'up', 'alpha': 'alpha'}[m.group(2)]
        else:
            m = re.match(r'^unet\.(.+)\.(lora_A|lora_B)\.weight$', key)
            if not m:
                raise ValueError(f'{source}: unrecognised key {key}')
            path, part = m.group(1), 'down' if m.group(2) == 'lora_A' else 'up'
        groups.setdefault(path, {})[part] = value.astype(np.float32)
    out = {}
    for path, g in groups.items():
        if 'down' not in g or 'up' not in g:
            raise ValueError(f'{source}: {path} lacks its down or up matrix')
        rank = g['down'].shape[0]
        scale = float(g['alpha']) / rank if 'alpha' in g else 1.0
        out[path] = (g['down'], g['up'], scale)
    return out


def attach_file(unet: nn.Module, path: str) -> tuple[dict[str, nn.Module], dict[str, str]]:
    """Loads a LoRA .safetensors file onto the UNet (wrappers at multiplier 1); returns (wrappers, metadata)."""
    tensors, meta = safetensors_io.read(path)
    entries = parse(tensors, unet, path)
    wrappers = {}
    for p, (down, up, scale) in entries.items():
        base = unet.get_submodule(p)
        rank = down.shape[0]
        w = LoRALinear(base, rank, scale * rank) if isinstance(base, nn.Linear) else LoRAConv2d(base, rank, scale * rank)
        with torch.no_grad():
            w.lora_down.weight.copy_(torch.from_numpy(down).reshape(w.lora_down.weight.shape))
            w.lora_up.weight.copy_(torch.from_numpy(up).reshape(w.lora_up.weight.shape))
        _set(unet, p, w)
        wrappers[p] = w
    return wrappers, meta
