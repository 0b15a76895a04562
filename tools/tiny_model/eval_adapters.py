"""Measures the tiny-shapes adapters (PyTorch, deterministic) and writes results/adapters.json, image grids
and the adapter cards (models/tiny-shapes/loras/<name>.md, controlnet/canny/README.md).

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.eval_adapters [--n 32]

All renders: 128x128, 20 Euler steps, guidance 7.5, negative prompt "", the sampler of sample.py.
- LoRA: the shipped .safetensors files are loaded onto the base UNet and rendered at weight 0 / 0.5 / 1 with
  the trigger word ("<trigger>, <prompt>"), at weight 1 without it and at weight 0 without it (the base), on N single-object prompts (object
  red/green/yellow/orange/white, background not black; one seed each). Metrics (styles.py): outline =
  dark (luma < 90) fraction of the foreground's 2-px inner rim; striped = fraction of interior pixels
  farther than 60 RGB units from the interior's dominant colour. Also judge.py's colour accuracy.
- ControlNet: held-out scenes (own seed, never in training), hint = hints.canny(render, 50, 100), prompt
  without position or size; IoU between judge.py's object mask of the render and the scene's shape
  mask, with the ControlNet at scale 1 vs without. Real scribbles (../shared/fixtures/comfyui/*scribble*.png,
  resized to 128x128, hint = hints.scribble): target = the regions the lines enclose (flood fill of the
  background from the border through non-line pixels, 4-connected).
"""
from __future__ import annotations

import argparse
import json
import os
import time
from collections import deque

import numpy as np
import torch
from PIL import Image

from . import export
from . import hints
from . import lora
from . import safetensors_io
from . import scenes
from . import styles
from .adapter_common import DEFAULT_CHECKPOINT, DEFAULT_WORK, HERE, REPO
from .eval import grid
from .judge import judge
from .sample import encode_prompts, initial_noise
from .schedule import euler_schedule
from .train_controlnet import hint_tensor, load_trained

EVAL_SEED = 31337
LORA_OBJECTS = ['red', 'green', 'yellow', 'orange', 'white']
SCRIBBLES = ['controlnet_house_scribble.png', 'controlnet_input_scribble_example.png']
SCRIBBLE_PROMPTS = [('a red square', 'blue'), ('a yellow circle', 'purple'), ('a white triangle', 'green'),
                    ('an orange square', 'black')]
CANNY_EVAL = (50, 100)


@torch.no_grad()
def generate(comp, prompts, seeds, controlnet=None, hint=None, scale=1.0, steps=20, guidance=7.5, size=(128, 128)):
    """sample.generate plus an optional ControlNet; the hint steers both halves of the guidance batch,
    as in diffusers."""
    tok, te, unet, vae, scaling, _ = comp
    w, h = size
    b = len(prompts)
    ctx = torch.cat([encode_prompts(tok, te, [''] * b), encode_prompts(tok, te, prompts)])
    timesteps, sigmas, init_sigma = euler_schedule(steps)
    latents = torch.cat([initial_noise(s, (1, 4, h // 8, w // 8)) for s in seeds]) * init_sigma
    hint2 = torch.cat([hint, hint]) if hint is not None else None
    for i, t in enumerate(timesteps):
        sigma, sigma_next = float(sigmas[i]), float(sigmas[i + 1])
        x = torch.cat([latents, latents]) / (sigma ** 2 + 1) ** 0.5
        tt = torch.full((2 * b,), float(t))
        if controlnet is not None:
            res = controlnet(x, tt, ctx, hint2, scale)
            eps = unet(x, tt, ctx, list(res[:-1]), res[-1])
        else:
            eps = unet(x, tt, ctx)
        eu, ec = eps.chunk(2)
        latents = latents + (eu + guidance * (ec - eu)) * (sigma_next - sigma)
    image = vae.decode(latents / scaling)
    return ((image / 2 + 0.5).clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()


def batched(fn, items, batch=16):
    out = []
    for i in range(0, len(items), batch):
        out += list(fn(items[i:i + batch]))
    return out


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return round(float(np.mean(xs)), 4) if xs else None


# ------------------------------------------------------------------------------------------ LoRA

def lora_items(n: int, rng: np.random.Generator) -> list[dict]:
    items = []
    while len(items) < n:
        obj = LORA_OBJECTS[rng.integers(len(LORA_OBJECTS))]
        bg = scenes.COLOUR_NAMES[rng.integers(8)]
        if bg in (obj, 'black'):
            continue
        spec = scenes.ShapeSpec(shape=scenes.SHAPES[rng.integers(3)], colour=obj, size='large',
                                position=scenes.POSITION_NAMES[rng.integers(9)])
        prompt = scenes.caption(scenes.Scene(128, 128, bg, [spec]), rng)
        items.append({'prompt': prompt, 'object': obj, 'background': bg, 'seed': int(rng.integers(0, 2 ** 31))})
    return items


def eval_lora(comp, path: str, items: list[dict], images_out: list) -> dict:
    unet = comp[2]
    wrappers, meta = lora.attach_file(unet, path)
    trigger = meta.get('trigger_word', '')
    conditions = [('base_no_trigger', 0.0, False), ('weight_0', 0.0, True), ('weight_0.5', 0.5, True), ('weight_1', 1.0, True),
                  ('weight_1_no_trigger', 1.0, False)]
    out = {'file': os.path.relpath(path, REPO), 'trigger_word': trigger, 'naming': meta.get('naming'),
           'layers': len(wrappers), 'n': len(items)}
    try:
        for name, wgt, with_trigger in conditions:
            lora.set_multiplier(unet, wgt)
            prompts = [f'{trigger}, {it["prompt"]}' if with_trigger else it['prompt'] for it in items]
            imgs = batched(lambda ch: generate(comp, [p for p, _ in ch], [s for _, s in ch]),
                           list(zip(prompts, [it['seed'] for it in items])))
            verdicts = [judge(im) for im in imgs]
            out[name] = {
                'outline_score': _mean([styles.outline_score(im) for im in imgs]),
                'stripe_score': _mean([styles.stripe_score(im) for im in imgs]),
                'background_ok': round(float(np.mean([v['background'] == it['background'] for v, it in zip(verdicts, items)])), 3),
                'object_colour_ok': round(float(np.mean([v['object'] == it['object'] for v, it in zip(verdicts, items)])), 3),
            }
            images_out.append(imgs[:8])
    finally:
        lora.remove(unet)
    return out


# ------------------------------------------------------------------------------------------ ControlNet

def enclosed(lines: np.ndarray) -> np.ndarray:
    """bool [H, W]: pixels not reachable from the border through non-line pixels (4-connected)."""
    h, w = lines.shape
    seen = np.zeros((h, w), dtype=bool)
    q = deque()
    for y in range(h):
        for x in (0, w - 1):
            if not lines[y, x] and not seen[y, x]:
                seen[y, x] = True
                q.append((y, x))
    for x in range(w):
        for y in (0, h - 1):
            if not lines[y, x] and not seen[y, x]:
                seen[y, x] = True
                q.append((y, x))
    while q:
        y, x = q.popleft()
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= ny < h and 0 <= nx < w and not seen[ny, nx] and not lines[ny, nx]:
                seen[ny, nx] = True
                q.append((ny, nx))
    return ~seen


def iou(a: np.ndarray, b: np.ndarray) -> float:
    u = (a | b).sum()
    return float((a & b).sum() / u) if u else 0.0


def controlnet_items(n: int, rng: np.random.Generator) -> list[dict]:
    items = []
    while len(items) < n:
        scene = scenes.sample_scene(rng, (128, 128), held_out=None)
        scene.objects = scene.objects[:1]
        o = scene.objects[0]
        o.say_position, o.say_size = False, False
        scene.say_background = True
        rgb = scenes.render(scene)
        hint = hints.canny(rgb, *CANNY_EVAL)
        if (hint > 0).sum() < 20:
            continue  # no visible edge at these thresholds (too little contrast)
        items.append({'scene': scene, 'hint': hint, 'target': styles.scene_mask(scene),
                      'prompt': scenes.caption(scene, rng), 'seed': int(rng.integers(0, 2 ** 31))})
    return items


def eval_controlnet(comp, cn, items: list[dict], scribble_dir: str, images_out: list) -> dict:
    def run(its, with_control):
        def fn(ch):
            hint = hint_tensor([it['hint'] for it in ch]) if with_control else None
            return generate(comp, [it['prompt'] for it in ch], [it['seed'] for it in ch],
                            cn if with_control else None, hint, 1.0)
        return batched(fn, its)

    res = {}
    with_c, without_c = run(items, True), run(items, False)
    res['held_out_canny'] = {
        'n': len(items), 'canny_thresholds': list(CANNY_EVAL),
        'iou_control': _mean([iou(styles.object_mask(im), it['target']) for im, it in zip(with_c, items)]),
        'iou_no_control': _mean([iou(styles.object_mask(im), it['target']) for im, it in zip(without_c, items)]),
        'object_colour_ok_control': round(float(np.mean([judge(im)['object'] == it['scene'].objects[0].colour
                                                         for im, it in zip(with_c, items)])), 3),
        'background_ok_control': round(float(np.mean([judge(im)['background'] == it['scene'].background
                                                      for im, it in zip(with_c, items)])), 3),
    }
    images_out.append([np.repeat(it['hint'][:, :, None], 3, 2) for it in items[:8]])
    images_out.append(with_c[:8])
    images_out.append(without_c[:8])
    res['scribbles'] = {}
    for name in SCRIBBLES:
        path = os.path.join(scribble_dir, name)
        if not os.path.exists(path):
            res['scribbles'][name] = {'missing': os.path.relpath(path, REPO)}
            continue
        rgb = np.asarray(Image.open(path).convert('RGB').resize((128, 128), Image.BILINEAR))
        lines = hints.scribble(rgb)
        target = enclosed(lines > 0)
        its = [{'hint': lines, 'prompt': f'{obj}, {bg} background', 'seed': 1000 + k}
               for k, (obj, bg) in enumerate(SCRIBBLE_PROMPTS)]
        wc, nc = run(its, True), run(its, False)
        res['scribbles'][name] = {
            'n': len(its), 'target_fraction': round(float(target.mean()), 4),
            'iou_control': _mean([iou(styles.object_mask(im), target) for im in wc]),
            'iou_no_control': _mean([iou(styles.object_mask(im), target) for im in nc]),
        }
        images_out.append([np.repeat(lines[:, :, None], 3, 2), np.repeat(target[:, :, None].astype(np.uint8) * 255, 3, 2)]
                          + wc + nc[:2])
    return res


# ------------------------------------------------------------------------------------------ cards

def lora_card(path: str, meta: dict, result: dict, style_doc: str) -> str:
    key = 'outline_score' if meta['trigger_word'] == 'outline' else 'stripe_score'
    rows = '\n'.join(f'| {c} | {result[c][key]} | {result[c]["background_ok"]} | {result[c]["object_colour_ok"]} |'
                     for c in ('base_no_trigger', 'weight_0', 'weight_0.5', 'weight_1', 'weight_1_no_trigger'))
    naming = ('kohya (`lora_unet_<module path, dots as underscores>.lora_down.weight` / `.lora_up.weight` / `.alpha`, '
              'float16; scale = alpha / rank)' if meta['naming'] == 'kohya' else
              'diffusers / PEFT (`unet.<module path>.lora_A.weight` / `.lora_B.weight`, float32; alpha / rank '
              'folded into lora_B, so scale 1)')
    return f"""# {os.path.basename(path)}: `{meta['trigger_word']}` style LoRA for tiny-shapes

- Trigger word: `{meta['trigger_word']}` (trained as "{meta['trigger_word']}, <caption>", sometimes at the end).
- Style: {style_doc}
- Base model: {meta['base_model']} (models/tiny-shapes); the base weights were frozen.
- Targets: {meta['targets']}; {meta['layers']} layers, rank {meta['rank']}, alpha {meta['alpha']}.
- Naming: {naming}.
- Training data: {meta.get('scenes')} procedural scenes (tools/tiny_model/scenes.py) rendered in the style
  (tools/tiny_model/styles.py) and encoded with the base VAE; a quarter of each batch is the base training
  set with plain captions (keeps prompts without the trigger word close to the base).
- Training: {meta['steps']} steps, batch {meta['batch']}, {int(meta['train_seconds']) // 60} min {int(meta['train_seconds']) % 60} s on 2 CPU
  cores; loss and noise schedule as the base (eps, offset noise 0.1, min-SNR 5); AdamW lr {meta.get('lr')}.
- Reproduce: `tools/tiny_model/train_adapters.sh`.

## Measured (tools/tiny_model/eval_adapters.py, results/adapters.json)

{result['n']} single-object prompts, one seed each, 128x128, 20 Euler steps, guidance 7.5. Style metric:
{METRIC_DOCS[key]}
(mean); judge.py's background / object colour accuracy. Conditions: weight 0 without the trigger word is
the base model; weight 0 with it shows what the unknown word alone does to the base.

| condition | {key} | background ok | object colour ok |
|---|---|---|---|
{rows}
"""


METRIC_DOCS = {'outline_score': 'dark (luma < 90) fraction of the 2-px inner rim of the foreground',
               'stripe_score': "fraction of interior pixels farther than 60 RGB units from the interior's dominant colour"}
STYLE_DOCS = {'outline': 'each shape drawn with a thick dark (RGB 25,25,25) outline, 5.5% of the short side, inside its silhouette.',
              'striped': 'wide diagonal stripes across each shape (period 25% of the short side; white on dark colours, dark grey on light ones).'}


def phases(info: dict) -> str:
    h = info.get('history') or []
    if len(h) < 2:
        return ''
    ends = [p['from_step'] for p in h[1:]] + [info.get('steps')]
    parts = [f"steps {p['from_step']}-{e}: lr {p['config']['lr']}, captions without layout words "
             f"{p['config'].get('caption_no_layout', 0.0)}" for p, e in zip(h, ends)]
    return ' (' + '; '.join(parts) + ')'


def controlnet_card(info: dict, result: dict) -> str:
    h = result['held_out_canny']
    sc = '\n'.join(f'| {k} | {v.get("iou_control")} | {v.get("iou_no_control")} |' for k, v in result['scribbles'].items())
    return f"""# controlnet/canny: canny-edge ControlNet for tiny-shapes

diffusers ControlNetModel layout for the tiny-shapes UNet: conv_in, time_embedding, text_pooling, down_blocks
and mid_block start as copies of the base UNet; controlnet_cond_embedding (conv stack, full-resolution RGB
hint down 8x, last conv zero-initialised), controlnet_down_blocks (one zero-initialised 1x1 conv per UNet skip
tensor, 6) and controlnet_mid_block. {info.get('parameters', '')} parameters.

## Feeding it (onnxruntime)

- Inputs: `sample` float32 [batch, 4, h, w] (the UNet's input, already scaled by the scheduler),
  `timestep` float32 [batch] (as the UNet), `encoder_hidden_states` float32 [batch, 77, 128],
  `controlnet_cond` float32 [batch, 3, 8h, 8w] in 0..1 (the edge mask, 255 -> 1.0, in all three channels),
  `conditioning_scale` float32 scalar (shape []).
- Outputs: `down_block_res_sample_0..5` and `mid_block_res_sample`, each already multiplied by
  conditioning_scale. Feed them to unet/model.onnx as `down_block_additional_residual_0..5` and
  `mid_block_additional_residual` (the same index order and shapes). Without a ControlNet, feed zeros
  [1, C, 1, 1] (C = 32, 32, 32, 64, 64, 128; mid 128): identical to the base UNet.
- With classifier-free guidance, run it on the whole [negative, positive] batch with the hint repeated.

## Training

{info.get('steps')} steps, batch {(info.get('train_config') or {}).get('batch')}, {int(info.get('train_seconds') or 0) // 60} min on 2 CPU cores{phases(info)}, the base UNet and text encoder
frozen; data: the base training scenes with hints.canny(render, L, 2L), L in 40/70/100 (edges of the scene
redrawn black on white where colours of equal luma hide them); half of the hints lose
random edge segments, half are warped by a smooth displacement of up to 2 px (so scribbles work too);
caption dropout 0.3, and (see the steps above) captions without position and size words. Reproduce: `tools/tiny_model/train_adapters.sh`.

## Measured (tools/tiny_model/eval_adapters.py, results/adapters.json)

Mask IoU between judge.py's object pixels of the render and the hint's shape, at conditioning scale 1 vs
without the ControlNet (same prompt and seed; prompts name colour and shape, no position or size).

| hint set | IoU with control | IoU without |
|---|---|---|
| held-out canny hints ({h['n']} scenes never seen in training, thresholds {h['canny_thresholds']}) | {h['iou_control']} | {h['iou_no_control']} |
{sc}

Colour accuracy with control on the held-out set: background {h['background_ok_control']}, object {h['object_colour_ok_control']}.
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--checkpoint', default=DEFAULT_CHECKPOINT)
    ap.add_argument('--work', default=DEFAULT_WORK)
    ap.add_argument('--model', default=os.path.join(REPO, 'models', 'tiny-shapes'))
    ap.add_argument('--n', type=int, default=32)
    ap.add_argument('--out', default=os.path.join(HERE, 'results'))
    ap.add_argument('--scribbles', default=os.path.join(os.path.dirname(REPO), 'shared', 'fixtures', 'comfyui'))
    ap.add_argument('--no-cards', action='store_true')
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(int(os.environ.get('IMGPROMPT_THREADS', '2')))
    comp = export.load_components(args.checkpoint)
    t0 = time.time()
    results = {'base_steps': comp[5]['unet_steps'],
               'settings': {'size': [128, 128], 'steps': 20, 'sampler': 'euler', 'guidance': 7.5, 'negative': '',
                            'eval_seed': EVAL_SEED},
               'loras': {}}
    lora_dir = os.path.join(args.model, 'loras')
    lora_images: list = []
    items = lora_items(args.n, np.random.default_rng(EVAL_SEED))
    for f in sorted(os.listdir(lora_dir)) if os.path.isdir(lora_dir) else []:
        if f.endswith('.safetensors'):
            path = os.path.join(lora_dir, f)
            r = eval_lora(comp, path, items, lora_images)
            results['loras'][f[:-len('.safetensors')]] = r
            if not args.no_cards:
                _, meta = safetensors_io.read(path)
                with open(path[:-len('.safetensors')] + '.md', 'w') as fh:
                    fh.write(lora_card(path, meta, r, STYLE_DOCS.get(meta['trigger_word'], '')))
    if lora_images:
        grid([im for row in lora_images for im in row], 8).save(os.path.join(args.out, 'adapters_lora.png'))
    ckpt = os.path.join(args.work, 'adapters', 'controlnet_ckpt.pt')
    if os.path.exists(ckpt):
        cn, info = load_trained(args.work, comp[2])
        cn_images: list = []
        citems = controlnet_items(args.n, np.random.default_rng(EVAL_SEED + 1))
        results['controlnet'] = dict(eval_controlnet(comp, cn, citems, args.scribbles, cn_images), training=info)
        rows = []
        for row in cn_images:
            rows += list(row)[:8] + [np.full((128, 128, 3), 128, np.uint8)] * (8 - min(8, len(row)))
        grid(rows, 8).save(os.path.join(args.out, 'adapters_controlnet.png'))
        cfg = os.path.join(args.model, 'controlnet', 'canny', 'config.json')
        if not args.no_cards and os.path.isdir(os.path.dirname(cfg)):
            from .models import count_params
            with open(os.path.join(os.path.dirname(cfg), 'README.md'), 'w') as fh:
                fh.write(controlnet_card(dict(info, parameters=count_params(cn)), results['controlnet']))
    results['eval_seconds'] = round(time.time() - t0, 1)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, 'adapters.json'), 'w') as f:
        json.dump(results, f, indent=2)
        f.write('\n')
    print(json.dumps(results, indent=2))


if __name__ == '__main__':
    main()
