#!/bin/sh
# One command for a seeded random-weight Stable Diffusion 1.5 model folder (optimum ONNX layout) in the
# imgprompt cache: make_model.sh [--scale toy|full] [--out DIR] [--seed N]. Installs nothing; needs
# Debian's python3-torch and python3-onnx (tools/tiny-model/setup.sh).
set -eu
cd "$(dirname "$0")"
OMP_WAIT_POLICY=PASSIVE exec "${IMGPROMPT_PYTHON:-/usr/bin/python3}" make_model.py "$@"
