#!/bin/sh
# Installs what the tiny-model tools need, from Debian (PyPI is not used): torch 1.13, onnx, numpy, PIL,
# and OpenMP OpenBLAS (without it torch falls back to reference BLAS, ~40x slower).
set -eu
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
$SUDO apt-get update
$SUDO apt-get install -y python3-torch python3-onnx python3-numpy python3-pil libopenblas0-openmp
/usr/bin/python3 -c 'import torch, onnx, numpy, PIL; print("torch", torch.__version__, "onnx", onnx.__version__)'
