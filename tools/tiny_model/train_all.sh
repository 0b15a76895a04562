#!/bin/sh
# One-command retrain of tiny-shapes, then export, fixtures and evaluation. Resumable: rerun the same
# command after an interruption. The work folder (default ~/.cache/imgprompt-train, or
# $IMGPROMPT_TRAIN_DIR) holds checkpoints outside the repository.
#   tools/tiny_model/train_all.sh                 # full recipe from scratch (about 2.5 h on 2 cores)
#   RESUME=1 tools/tiny_model/train_all.sh        # continue from tools/tiny_model/checkpoints/latest.pt
#   UNET_MINUTES=60 tools/tiny_model/train_all.sh # cap this run's UNet training time
set -eu
cd "$(dirname "$0")/../.."  # the tools are a package run from the repository root
export OMP_WAIT_POLICY=PASSIVE
PY=${IMGPROMPT_PYTHON:-/usr/bin/python3}
WORK=${IMGPROMPT_TRAIN_DIR:-$HOME/.cache/imgprompt-train}
RESUME_ARGS=""
[ "${RESUME:-0}" = "1" ] && RESUME_ARGS="--resume-from tools/tiny_model/checkpoints/latest.pt"
$PY -m tools.tiny_model.train --work "$WORK" --unet-minutes "${UNET_MINUTES:-120}" $RESUME_ARGS
$PY -m tools.tiny_model.finetune_decoder --work "$WORK" --minutes "${DECODER_MINUTES:-15}"
$PY -m tools.tiny_model.pack --work "$WORK"
$PY -m tools.tiny_model.export --source tools/tiny_model/checkpoints/latest.pt
$PY -m tools.tiny_model.make_fixtures --source tools/tiny_model/checkpoints/latest.pt
$PY -m tools.tiny_model.eval --checkpoint tools/tiny_model/checkpoints/latest.pt
$PY -m tools.tiny_model.card
