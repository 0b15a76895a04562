#!/bin/sh
# Trains and exports the tiny-shapes adapters on the final base (checkpoints/latest.pt, after
# train_all.sh): the outline (kohya LoCon) and striped (PEFT) LoRAs, the canny ControlNet, then
# export_adapters.py (UNet residual inputs, controlnet/canny, model_index.json) and eval_adapters.py
# (results/adapters.json, grids, cards). Resumable: checkpoints live in <work>/adapters and the minute
# caps count total training time, so rerunning after an interruption only finishes what is left.
#   tools/tiny_model/train_adapters.sh
#   LORA_MINUTES=9 CONTROLNET_MINUTES=32 tools/tiny_model/train_adapters.sh
# Other knobs: IMGPROMPT_TRAIN_DIR (work folder), ADAPTER_MODEL_DIR (default models/tiny-shapes),
# ADAPTER_RESULTS (default tools/tiny_model/results), LORA_SCENES, EVAL_N, ADAPTER_NICE, IMGPROMPT_THREADS.
set -eu
cd "$(dirname "$0")/../.."  # the tools are a package run from the repository root
export OMP_WAIT_POLICY=PASSIVE
PY=${IMGPROMPT_PYTHON:-/usr/bin/python3}
WORK=${IMGPROMPT_TRAIN_DIR:-$HOME/.cache/imgprompt-train}
MODEL=${ADAPTER_MODEL_DIR:-models/tiny-shapes}
RESULTS=${ADAPTER_RESULTS:-tools/tiny_model/results}
NICE="nice -n ${ADAPTER_NICE:-5}"
SCENES=${LORA_SCENES:-3000}
$NICE $PY -m tools.tiny_model.train_lora --work "$WORK" --out "$MODEL/loras" --scenes "$SCENES" --style outline --format kohya --minutes "${LORA_MINUTES:-9}"
$NICE $PY -m tools.tiny_model.train_lora --work "$WORK" --out "$MODEL/loras" --scenes "$SCENES" --style striped --format peft --minutes "${LORA_MINUTES:-9}"
$NICE $PY -m tools.tiny_model.train_controlnet --work "$WORK" --minutes "${CONTROLNET_MINUTES:-32}"
$NICE $PY -m tools.tiny_model.export_adapters --work "$WORK" --out "$MODEL" --results "$RESULTS"
$NICE $PY -m tools.tiny_model.eval_adapters --work "$WORK" --model "$MODEL" --out "$RESULTS" --n "${EVAL_N:-32}"
