#!/bin/sh
# One-command evaluation of the shipped tiny-shapes weights (tools/tiny_model/checkpoints/latest.pt):
# writes tools/tiny_model/results/eval.json and prints the figures.
set -eu
# The tools are a package run from the repository root; arguments keep resolving against the caller's folder.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
OMP_WAIT_POLICY=PASSIVE exec "${IMGPROMPT_PYTHON:-/usr/bin/python3}" -m tools.tiny_model.eval "$@"
