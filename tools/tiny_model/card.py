"""Writes the model card models/tiny-shapes/README.md from the recipe and the measured results
(tools/tiny_model/results/{export,training,eval}.json).

    /usr/bin/python3 -m tools.tiny_model.card
"""
from __future__ import annotations

import json
import os
import re

from . import scenes
from . import train

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
MODEL = os.path.join(REPO, 'models', 'tiny-shapes')
TARGETS = {('seen', 'background'): 90, ('seen', 'object_colour'): 85, ('seen', 'left_right'): 95,
           ('held_out', 'background'): 80, ('held_out', 'object_colour'): 70}


def _load(name: str) -> dict:
    path = os.path.join(HERE, 'results', name)
    return json.load(open(path)) if os.path.exists(path) else {}


def _size(component: str) -> float:
    return os.path.getsize(os.path.join(MODEL, component, 'model.onnx')) / 1e6


def _cell(ev: dict, set_name: str, metric: str) -> str:
    value = ev.get(set_name, {}).get(metric)
    if value is None:
        return 'n/a'
    target = TARGETS.get((set_name, metric))
    if target is None:
        return f'{value}%'
    return f'{value}% ({"meets" if value >= target else "below"} {target}%)'


def _engine_line(ev: dict) -> str:
    """The same evaluation through the TypeScript engine (scripts/eval-model.ts --json results/eval_engine.json)."""
    en = _load('eval_engine.json')
    if not en:
        return 'The TypeScript engine\'s run of this evaluation (`npm run eval:model`) has not been recorded.'
    sets = [('seen', 'seen'), ('held_out', 'held out'), ('shuffled_control', 'shuffled')]
    same = all(en.get(k, {}).get(m) == ev.get(k, {}).get(m) for k, _ in sets for m in ('background', 'object_colour', 'left_right'))
    parts = []
    for key, label in sets:
        e = en.get(key, {})
        parts.append(f"{label}: background {e.get('background', 'n/a')}, object colour {e.get('object_colour', 'n/a')}, left/right {e.get('left_right', 'n/a')}")
    agree = en.get('agreement_with_torch_renders', {})
    alike = '; '.join(f"{k}: {v.get('sameVerdict')}/{v.get('compared')} grid images judged alike, largest pixel difference {v.get('maxPixelDifference')}/255" for k, v in agree.items())
    verdict = 'the same figures as PyTorch' if same else 'figures that differ from PyTorch\'s above'
    return (f"Through the TypeScript engine and onnxruntime (`npm run eval:model`, `results/eval_engine.json`): {verdict} "
            f"({'; '.join(parts)}). Against the PyTorch renders in the grids: {alike}.")


def main() -> None:
    ex, tr, ev = _load('export.json'), _load('training.json'), _load('eval.json')
    r = train.RECIPE
    p = ex.get('params', {})
    total_mb = sum(_size(c) for c in ('text_encoder', 'unet', 'vae_decoder', 'vae_encoder'))
    hours = tr.get('unet_seconds', 0) / 3600
    held = ', '.join(f'{o} on {b}' for o, b in scenes.HELD_OUT_PAIRS)
    buckets = ', '.join(f'{w}x{h}' for w, h in scenes.BUCKETS)
    rows = [
        ('background colour', 'background'), ('object colour', 'object_colour'), ('both colours', 'both_colours'),
        ('left/right (prompts saying left or right)', 'left_right'),
        ('horizontal side incl. corners', 'horizontal_incl_corners'),
        ('vertical side incl. corners', 'vertical_incl_corners'), ('an object was drawn', 'object_found'),
    ]
    table = '\n'.join(f'| {label} | {_cell(ev, "seen", m)} | {_cell(ev, "held_out", m)} | {_cell(ev, "shuffled_control", m)} |'
                      for label, m in rows)
    log_lines = '\n'.join('    ' + re.sub(r' [0-9.]+ s/step$', '', ln) for ln in (tr.get('log_vae', []) + tr.get('log_decoder', []) + tr.get('log_text', [])
                                                   + tr.get('log_data', []) + tr.get('log_tail', [])[-3:]))
    u, t, v = r['unet'], r['text'], r['vae']
    met = [(k, ev.get(k[0], {}).get(k[1]), target) for k, target in TARGETS.items()]
    met_count = sum(1 for _, value, target in met if value is not None and value >= target)
    misses = ', '.join(f'{k[0].replace("_", "-")} {k[1].replace("_", " ")} {value}% < {target}%'
                       for k, value, target in met if value is None or value < target)
    status = (f'**Status: {met_count} of {len(met)} quality targets met' + (f' (missing: {misses})' if misses else '')
              + '.** The model is still undertrained (loss was still falling when this run stopped); continue with '
              '`RESUME=1 tools/tiny_model/train_all.sh` and the card regenerates itself.')
    card = f"""# tiny-shapes

The embedded default model of imgprompt: a tiny text-to-image latent diffusion model, trained from
scratch on this project's machines (2 CPU cores) on procedurally drawn flat shapes, and shipped in the
diffusers / optimum ONNX layout so the engine runs it through the same code path as a Stable Diffusion 1.5
export. It draws one or two circles, squares or triangles in eight colours on a plain background.

- **Licence:** MIT, like the rest of imgprompt. Trained only on images drawn by our own code.
- **Native resolution:** 128x128 pixels (16x16 latents). Trained on the aspect buckets {buckets}
  (every side a multiple of 32, area near 128x128); `model_index.json` lists them under `imgprompt`.
- **Defaults:** 20 Euler steps, guidance 7.5, negative prompt "".
- **Vocabulary:** colours {', '.join(scenes.COLOUR_NAMES)}; shapes {', '.join(scenes.SHAPES)}; sizes small, large;
  positions left, right, top, bottom, center/middle, top left, top right, bottom left, bottom right
  (also "upper/lower left/right", "... corner"); "... background". Other words tokenize (byte-level BPE) but
  mean nothing to the model.

## Files and interfaces

| file | inputs | outputs | size |
|---|---|---|---|
| `text_encoder/model.onnx` | `input_ids` int32 [batch, sequence] (77 for the UNet) | `last_hidden_state` float32 [batch, sequence, {t['hidden_size']}], `pooler_output` float32 [batch, {t['hidden_size']}] | {_size('text_encoder'):.1f} MB |
| `unet/model.onnx` | `sample` float32 [batch, 4, h, w], `timestep` float32 [batch], `encoder_hidden_states` float32 [batch, 77, {t['hidden_size']}] | `out_sample` float32 [batch, 4, h, w] (epsilon) | {_size('unet'):.1f} MB |
| `vae_decoder/model.onnx` | `latent_sample` float32 [batch, 4, h, w] (latents / scaling_factor) | `sample` float32 [batch, 3, 8h, 8w] in about [-1, 1] | {_size('vae_decoder'):.1f} MB |
| `vae_encoder/model.onnx` | `sample` float32 [batch, 3, H, W] in [-1, 1] | `latent_sample` float32 [batch, 4, H/8, W/8]: the posterior **mean**, unscaled (multiply by scaling_factor) | {_size('vae_encoder'):.1f} MB |

ONNX opset 17; batch, sequence, height and width axes are dynamic (h and w must be multiples of 4 in
latent units, i.e. 32 pixels). Total {total_mb:.1f} MB. `scheduler/scheduler_config.json` is SD's
scaled_linear schedule (beta 0.00085 to 0.012, 1000 steps, epsilon prediction, steps_offset 1, leading
spacing); `vae_*/config.json` carry `scaling_factor` = {ex.get('scaling_factor', float('nan')):.6f} (1 / std of the
training latents). Tokenizer: CLIP format (`vocab.json`, `merges.txt`, {ex.get('vocab_size', 'n/a')} tokens,
`<|startoftext|>` and `<|endoftext|>` are the two highest ids, max length 77, padding with
`<|endoftext|>`). The text encoder writes the EOS hidden state into every position after the first EOS,
so the padding token does not matter.

## Architecture

| component | design | parameters |
|---|---|---|
| text encoder | CLIP-style causal transformer: token + learned position embeddings, {t['num_layers']} pre-LN layers, width {t['hidden_size']}, {t['num_heads']} heads, MLP {t['intermediate_size']} (quick_gelu), final LayerNorm; pooled at the first EOS | {p.get('text_encoder', 0):,} |
| UNet | UNet2DConditionModel-like: block channels {u['channels']}, {u['layers_per_block']} ResNet block per level (+1 on the way up), self- and cross-attention transformer blocks (GEGLU) at the 8x8 and 4x4 latent levels and in the mid block, sinusoidal timestep embedding (flip_sin_to_cos, shift 0) plus an attention-pooled text vector added to it | {p.get('unet', 0):,} |
| VAE encoder | KL autoencoder, channels {v['channels']}, 8x down, 4 latent channels | {p.get('vae_encoder', 0):,} |
| VAE decoder | mirror of the encoder, nearest-neighbour upsampling | {p.get('vae_decoder', 0):,} |

Module names follow transformers / diffusers (`text_model.encoder.layers.N.self_attn.q_proj`,
`down_blocks.N.attentions.M.transformer_blocks.0.attn2.to_k`, ...) so LoRA key names map onto them.

## Data

Procedural scenes drawn at 4x with PIL and box-filtered down (antialiased): a background in one of the
eight colours and one shape (65%) or two shapes (35%, at opposite positions) in other colours, small or
large, with a little jitter and rotation. Captions come from a grammar and are re-drawn every time a scene
is used: articles, word order (background first or last, position before or after the shape), separators
and synonyms vary independently of which colour plays which role; size is named 75% of the time. 6% of
captions name no background (the background is then white); 10% of training captions are dropped to ""
for classifier-free guidance. {r['data']['scenes']:,} scenes are encoded once to latents.

**Held out of training** (never an object of that colour on that background, in any scene):
{held}. The evaluation uses them; every colour still appears in both roles in training.

## Training

Tokenizer: BPE merges learnt on {r['tokenizer_corpus']:,} captions. VAE: {tr.get('vae_steps', v['steps'])} steps
(batch {v['batch']}, 64x64 crops, MSE + L1 + KL 1e-6), then the decoder alone fine-tuned on whole images of every
bucket. Text encoder: {t['pretrain_steps']} steps on training-only attribute heads (background colour, first and
second object colour, shape, position, count). UNet + text encoder jointly: {tr.get('unet_steps', 'n/a')} steps, batch
{u['batch']}, AdamW lr {u['lr']}, EMA {u['ema_decay']} (exported), min-SNR-{u['min_snr_gamma']:g} weighting, offset noise
{u['offset_noise']}, attribute-head loss weight {u['aux_weight']}; {hours:.2f} h of UNet training on 2 shared
CPU cores. Every hyperparameter and seed is in `tools/tiny_model/train.py` (`RECIPE`). Last log lines:

{log_lines}

Retrain: `tools/tiny_model/setup.sh` then `tools/tiny_model/train_all.sh` (resumable; `RESUME=1` continues
from `tools/tiny_model/checkpoints/latest.pt`).

## Measured quality

Pixel judge (`tools/tiny_model/judge.py`, fixed before training): background = most common palette colour
on the border, object colour = most common other palette colour, position from the object pixels'
centroid. {ev.get('seen', {}).get('n', 'n/a')} single-object prompts per set, native 128x128, 20 Euler steps, guidance 7.5,
negative "", model after {ev.get('model_steps', 'n/a')} UNet steps. "seen": pairs seen in training, new seeds and
evaluation-only wordings; "held out": the pairs above; "shuffled": the seen set rendered from another
item's prompt (control). Rerun: `tools/tiny_model/eval.sh`.

{status}

| metric | seen | held out | shuffled control |
|---|---|---|---|
{table}

{_engine_line(ev)}

On the data renderer's own images the judge reads background and object colour correctly 40/40
(checked by `smoke_test.py`).

## Adapters in this folder

- `loras/outline.safetensors` (kohya naming) and `loras/striped.safetensors` (diffusers/PEFT naming):
  style LoRAs under the trigger words `outline` and `striped`; cards `loras/outline.md`, `loras/striped.md`.
  Use them by bare name: `loras: [{{file: outline, weight: 0.8}}]`.
- `controlnet/canny/`: a canny-edge ControlNet (diffusers ControlNetModel interface), declared for the
  `canny`, `scribble` and `raw` hint types in `model_index.json`; card `controlnet/canny/README.md`. The UNet
  takes its residuals as `down_block_additional_residual_0..5` / `mid_block_additional_residual`.
- `preview_decoder/`: a TAESD-style decoder for live step previews (not part of the model hash; see
  `docs/previews.md`).

Trained with `tools/tiny_model/train_adapters.sh` and `train_preview_decoder.py` on this base.

## Limitations

A toy: it knows only the vocabulary above, at about 128x128 pixels. Two-object prompts and counts are
not evaluated. Quality figures are from the PyTorch weights that were exported; the ONNX graphs agree
with them to about 1e-5 (`node tools/tiny_model/check_onnx.mjs`).
"""
    with open(os.path.join(MODEL, 'README.md'), 'w', encoding='utf-8') as f:
        f.write(card)
    print('wrote', os.path.join(MODEL, 'README.md'))


if __name__ == '__main__':
    main()
