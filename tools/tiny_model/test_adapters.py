"""Checks of the adapter tools at toy size (random weights, no checkpoint needed; about 15 s on one core).

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.test_adapters
"""
from __future__ import annotations

import copy
import json
import os
import struct
import tempfile

import numpy as np
import torch

from . import lora
from . import safetensors_io
from . import scenes
from . import styles
from . import train
from .eval_adapters import enclosed, iou
from .models import ControlNetModel
from .train_controlnet import augment, warp, CONFIG


def check_safetensors(tmp: str) -> None:
    path = os.path.join(tmp, 'a.safetensors')
    tensors = {'b.weight': np.arange(6, dtype=np.float16).reshape(2, 3), 'a.alpha': np.array(4.0, dtype=np.float16),
               'c': np.linspace(-1, 1, 5, dtype=np.float32)}
    safetensors_io.write(path, tensors, {'trigger_word': 'outline', 'rank': 8})
    raw = open(path, 'rb').read()
    (n,) = struct.unpack('<Q', raw[:8])
    assert n % 8 == 0, 'header is padded to 8 bytes'
    header = json.loads(raw[8:8 + n])
    assert header['__metadata__'] == {'trigger_word': 'outline', 'rank': '8'}
    assert header['a.alpha'] == {'dtype': 'F16', 'shape': [], 'data_offsets': [0, 2]}
    for name, a in tensors.items():
        b, e = header[name]['data_offsets']
        assert raw[8 + n + b:8 + n + e] == a.astype(a.dtype.newbyteorder('<')).tobytes(), name
    back, meta = safetensors_io.read(path)
    assert meta['rank'] == '8' and all(np.array_equal(back[k], tensors[k]) and back[k].dtype == tensors[k].dtype
                                       for k in tensors)
    open(path, 'wb').write(raw[:8 + n + 4])
    try:
        safetensors_io.read(path)
        raise AssertionError('a truncated file must fail')
    except ValueError as e:
        assert path in str(e)


def merged_unet(unet, entries: dict, multiplier: float):
    """Independent reference: the LoRA deltas merged into a copy of the base weights."""
    ref = copy.deepcopy(unet)
    with torch.no_grad():
        for path, (down, up, scale) in entries.items():
            m = ref.get_submodule(path)
            d, u = torch.from_numpy(down), torch.from_numpy(up)
            if isinstance(m, torch.nn.Linear):
                m.weight += multiplier * scale * (u @ d)
            else:
                m.weight += multiplier * scale * torch.einsum('or,rikl->oikl', u.reshape(u.shape[0], -1), d)
    return ref


def check_lora(tmp: str) -> None:
    torch.manual_seed(1)
    unet = train.make_unet(train.RECIPE).eval()
    x, t, ctx = torch.randn(2, 4, 8, 12), torch.tensor([700.0, 30.0]), torch.randn(2, 77, 128)
    with torch.no_grad():
        base = unet(x, t, ctx)
    for fmt in ('kohya', 'peft'):
        work = copy.deepcopy(unet)
        wrappers = lora.inject(work, lora.target_paths(work, convs=fmt == 'kohya'), rank=4, alpha=2.0)
        assert any(isinstance(w, lora.LoRAConv2d) for w in wrappers.values()) == (fmt == 'kohya')
        with torch.no_grad():
            for w in wrappers.values():
                w.lora_up.weight.normal_(0, 0.2)
        tensors = lora.to_kohya(wrappers) if fmt == 'kohya' else lora.to_peft(wrappers)
        key = next(iter(tensors))
        assert key.startswith('lora_unet_down_blocks_1_attentions_0') if fmt == 'kohya' else key.startswith('unet.')
        path = os.path.join(tmp, f'{fmt}.safetensors')
        safetensors_io.write(path, tensors, {'trigger_word': 'x'})
        fresh = copy.deepcopy(unet)
        loaded, meta = lora.attach_file(fresh, path)
        assert set(loaded) == set(wrappers) and meta['trigger_word'] == 'x'
        entries = lora.parse(safetensors_io.read(path)[0], unet, path)
        for mult in (1.0, 0.5):
            lora.set_multiplier(fresh, mult)
            with torch.no_grad():
                got = fresh(x, t, ctx)
                want = merged_unet(unet, entries, mult)(x, t, ctx)
            assert (got - want).abs().max() < 1e-4, (fmt, mult, (got - want).abs().max())
            assert (got - base).abs().max() > 1e-3, 'the LoRA changes the output'
        lora.set_multiplier(fresh, 0.0)
        with torch.no_grad():
            assert torch.equal(fresh(x, t, ctx), base), 'weight 0 is the base model'
        lora.remove(fresh)
        assert not any(isinstance(m, (lora.LoRALinear, lora.LoRAConv2d)) for m in fresh.modules())
    try:
        lora.parse({'lora_unet_no_such_module.lora_down.weight': np.zeros((1, 1), np.float32)}, unet, 'f.safetensors')
        raise AssertionError('unknown module must fail')
    except ValueError as e:
        assert 'f.safetensors' in str(e)


def check_controlnet() -> None:
    torch.manual_seed(2)
    unet = train.make_unet(train.RECIPE).eval()
    cn = ControlNetModel(unet).eval()
    x, t, ctx = torch.randn(1, 4, 8, 8), torch.tensor([400.0]), torch.randn(1, 77, 128)
    hint = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        base = unet(x, t, ctx)
        res = cn(x, t, ctx, hint, 1.0)
        assert len(res) == 7 and all(float(r.abs().max()) == 0.0 for r in res), 'zero-initialised outputs'
        assert torch.equal(unet(x, t, ctx, list(res[:-1]), res[-1]), base)
        for p in cn.parameters():
            p.add_(0.01 * torch.randn_like(p))
        res = cn(x, t, ctx, hint, 0.7)
        res1 = cn(x, t, ctx, hint, 1.0)
        assert all(torch.allclose(a, 0.7 * b, atol=1e-6) for a, b in zip(res, res1)), 'outputs scale linearly'
        # The mid residual equals adding it to the mid block's output (a forward hook, independently).
        r = torch.randn_like(res[-1])
        h = unet.mid_block.resnets[1].register_forward_hook(lambda m, i, o: o + r)
        hooked = unet(x, t, ctx)
        h.remove()
        zeros = [torch.zeros_like(a) for a in res[:-1]]
        assert (unet(x, t, ctx, zeros, r) - hooked).abs().max() < 1e-5
        assert (unet(x, t, ctx, list(res[:-1]), res[-1]) - base).abs().max() > 1e-4


def check_styles() -> None:
    rng = np.random.default_rng(3)
    done = 0
    while done < 6:
        s = scenes.sample_scene(rng, (128, 128))
        s.objects = s.objects[:1]  # the stripe metric assumes one object colour (as the evaluation prompts)
        if s.background == 'black' or any(o.colour in ('black', 'blue', 'purple') for o in s.objects):
            continue
        plain, outline, striped = (styles.render_styled(s, st) for st in (None, 'outline', 'striped'))
        assert np.array_equal(plain, scenes.render(s))
        assert styles.outline_score(outline) > 0.6 and styles.outline_score(plain) < 0.1
        st, sp = styles.stripe_score(striped), styles.stripe_score(plain)
        assert st is None or st > 0.15, st
        assert sp is None or sp < 0.05, sp
        assert iou(styles.object_mask(plain), styles.scene_mask(s)) > 0.85
        done += 1


def check_hint_tools() -> None:
    lines = np.zeros((20, 20), dtype=bool)
    lines[4, 4:15] = lines[14, 4:15] = lines[4:15, 4] = lines[4:15, 14] = True
    inside = enclosed(lines)
    assert inside.sum() == 11 * 11 and inside[9, 9] and not inside[0, 0]
    lines[9, 14] = False  # a gap: nothing is enclosed any more but the lines themselves
    assert enclosed(lines).sum() == lines.sum()
    rng = np.random.default_rng(4)
    m = np.zeros((32, 48), dtype=bool)
    m[10, 5:40] = True
    assert np.array_equal(warp(m, rng, amplitude=0.0), m)
    out = augment(m, rng, CONFIG)
    assert out.shape == m.shape and out.dtype == bool


def main() -> None:
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        check_safetensors(tmp)
        check_lora(tmp)
    check_controlnet()
    check_styles()
    check_hint_tools()
    print('adapter checks passed')


if __name__ == '__main__':
    main()
