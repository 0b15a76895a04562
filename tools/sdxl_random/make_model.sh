#!/bin/sh
# One command for the seeded random-weight SDXL model in three layouts (ONNX folder, diffusers folder,
# single file): make_model.sh --out DIR [--scale toy|full] [--seed N] [--only onnx]. Installs nothing;
# needs Debian's python3-torch and python3-onnx (tools/tiny_model/setup.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
OMP_WAIT_POLICY=PASSIVE exec "${IMGPROMPT_PYTHON:-/usr/bin/python3}" -m tools.sdxl_random.make_model "$@"
