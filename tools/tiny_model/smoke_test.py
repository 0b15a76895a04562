"""Smoke test of the whole tiny-model recipe at toy size (about a minute on two cores): tokenizer
round trip, judge on ground-truth renders, a few training steps of every stage, packing, resuming,
ONNX export with the expected names, and one sampling call.

    OMP_WAIT_POLICY=PASSIVE /usr/bin/python3 -m tools.tiny_model.smoke_test

Exits non-zero with a message on the first failure.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch

from . import clip_bpe, export, scenes
from .judge import judge
from .sample import generate

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

EXPECTED_IO = {
    'text_encoder': (['input_ids'], ['last_hidden_state', 'pooler_output']),
    'unet': (['sample', 'timestep', 'encoder_hidden_states'], ['out_sample']),
    'vae_decoder': (['latent_sample'], ['sample']),
    'vae_encoder': (['sample'], ['latent_sample']),
}


def check(cond: bool, message: str) -> None:
    if not cond:
        raise SystemExit(f'smoke test FAILED: {message}')


def run(args: list[str]) -> None:
    """Runs `args[0]` (a module of this package, e.g. 'train') as `python -m` from the repository root."""
    env = dict(os.environ, OMP_WAIT_POLICY='PASSIVE')
    res = subprocess.run([sys.executable, '-m', f'{__package__}.{args[0]}', *args[1:]], cwd=REPO, env=env,
                         capture_output=True, text=True)
    check(res.returncode == 0, f'{" ".join(args)} exited {res.returncode}:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}')


def main() -> None:
    torch.set_num_threads(2)
    rng = np.random.default_rng(0)

    # Tokenizer: trained merges make every caption word one token; BOS/EOS are the two highest ids.
    corpus = [scenes.caption(scenes.sample_scene(rng, (128, 128)), rng) for _ in range(500)]
    merges = clip_bpe.train(corpus)
    tok = clip_bpe.Tokenizer(clip_bpe.build_vocab(merges), merges)
    ids = tok('A Red circle')
    check(len(ids) == 77 and ids[0] == tok.bos_id and ids[4] == tok.eos_id and ids[-1] == tok.eos_id,
          f'unexpected ids {ids[:8]}')
    check(tok.eos_id == len(tok.vocab) - 1 and tok.bos_id == len(tok.vocab) - 2, 'BOS/EOS must be the highest ids')

    # Judge on the renderer's own images: must read back the attributes it drew.
    hits = 0
    for _ in range(40):
        scene = scenes.sample_scene(rng, scenes.sample_bucket(rng))
        scene.objects = scene.objects[:1]
        v = judge(scenes.render(scene))
        hits += v['background'] == scene.background and v['object'] == scene.objects[0].colour
    check(hits == 40, f'judge read {hits}/40 ground-truth renders correctly')

    with tempfile.TemporaryDirectory() as tmp:
        work = os.path.join(tmp, 'work')
        run(['train', '--toy', '--work', work, '--unet-steps', '3'])
        packed = os.path.join(tmp, 'latest.pt')
        # The summary goes to the temp folder: a smoke test must not touch the committed results.
        run(['pack', '--work', work, '--out', packed, '--summary', os.path.join(os.path.dirname(packed), 'training.json')])
        run(['train', '--toy', '--work', os.path.join(tmp, 'resumed'), '--resume-from', packed, '--unet-steps', '5'])
        out = os.path.join(tmp, 'model')
        export.export(packed, out)
        for name, (inputs, outputs) in EXPECTED_IO.items():
            m = onnx.load(os.path.join(out, name, 'model.onnx'))
            onnx.checker.check_model(m)
            check([i.name for i in m.graph.input] == inputs, f'{name} inputs {[i.name for i in m.graph.input]}')
            check([o.name for o in m.graph.output] == outputs, f'{name} outputs {[o.name for o in m.graph.output]}')
            check(m.opset_import[0].version == export.OPSET, f'{name} opset {m.opset_import[0].version}')
        ids_type = onnx.load(os.path.join(out, 'text_encoder', 'model.onnx')).graph.input[0].type.tensor_type.elem_type
        check(ids_type == onnx.TensorProto.INT32, 'input_ids must be int32')
        for f in ('model_index.json', 'scheduler/scheduler_config.json', 'tokenizer/vocab.json', 'tokenizer/merges.txt',
                  'vae_decoder/config.json', 'unet/config.json', 'text_encoder/config.json'):
            check(os.path.exists(os.path.join(out, f)), f'missing {f}')
        tok2, te, unet, vae, scaling, _ = export.load_components(packed)
        img = generate(tok2, te, unet, vae, scaling, ['a red circle'], [1], (96, 160), steps=2)
        check(img.shape == (1, 160, 96, 3) and img.dtype == np.uint8, f'image shape {img.shape}')
    print('smoke test passed')


if __name__ == '__main__':
    main()
