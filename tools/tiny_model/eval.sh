#!/bin/sh
# One-command evaluation of the shipped tiny-shapes weights (tools/tiny-model/checkpoints/latest.pt):
# writes tools/tiny-model/results/eval.json and prints the figures.
set -eu
cd "$(dirname "$0")"
OMP_WAIT_POLICY=PASSIVE exec "${IMGPROMPT_PYTHON:-/usr/bin/python3}" eval.py "$@"
