#!/bin/sh
# One-command retrain of tiny-shapes, then export, fixtures and evaluation. Resumable: rerun the same
# command after an interruption. The work folder (default ~/.cache/imgprompt-train, or
# $IMGPROMPT_TRAIN_DIR) holds checkpoints outside the repository.
#   tools/tiny-model/train_all.sh                 # full recipe from scratch (about 2.5 h on 2 cores)
#   RESUME=1 tools/tiny-model/train_all.sh        # continue from tools/tiny-model/checkpoints/latest.pt
#   UNET_MINUTES=60 tools/tiny-model/train_all.sh # cap this run's UNet training time
set -eu
cd "$(dirname "$0")"
export OMP_WAIT_POLICY=PASSIVE
PY=${IMGPROMPT_PYTHON:-/usr/bin/python3}
WORK=${IMGPROMPT_TRAIN_DIR:-$HOME/.cache/imgprompt-train}
RESUME_ARGS=""
[ "${RESUME:-0}" = "1" ] && RESUME_ARGS="--resume-from checkpoints/latest.pt"
$PY train.py --work "$WORK" --unet-minutes "${UNET_MINUTES:-120}" $RESUME_ARGS
$PY finetune_decoder.py --work "$WORK" --minutes "${DECODER_MINUTES:-15}"
$PY pack.py --work "$WORK"
$PY export.py --source checkpoints/latest.pt
$PY make_fixtures.py --source checkpoints/latest.pt
$PY eval.py --checkpoint checkpoints/latest.pt
$PY card.py
