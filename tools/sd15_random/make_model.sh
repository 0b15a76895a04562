#!/bin/sh
# One command for a seeded random-weight Stable Diffusion 1.5 model folder (optimum ONNX layout) in the
# imgprompt cache: make_model.sh [--scale toy|full] [--out DIR] [--seed N]. Installs nothing; needs
# Debian's python3-torch and python3-onnx (tools/tiny_model/setup.sh).
set -eu
# The tools are a package run from the repository root; arguments keep resolving against the caller's folder.
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
OMP_WAIT_POLICY=PASSIVE exec "${IMGPROMPT_PYTHON:-/usr/bin/python3}" -m tools.sd15_random.make_model "$@"
