#!/bin/sh
# The seeded random-weight Stable Diffusion 1.5 as the files users have: a single-file LDM checkpoint (fp32
# and fp16) and a diffusers safetensors folder: make_checkpoints.sh [--scale toy|full] [--out DIR]
# [--seed N] [--check]. Installs nothing; needs Debian's python3-torch (tools/tiny_model/setup.sh).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
OMP_WAIT_POLICY=PASSIVE exec "${IMGPROMPT_PYTHON:-/usr/bin/python3}" -m tools.sd15_random.make_checkpoints "$@"
