#!/usr/bin/env bash
# Installs what the test suites need beyond `npm ci`: Debian packages (Chromium for the real-VS-Code
# suites, build tools for code-server's native addons, PyTorch for the model-tool smoke test and the
# benchmark's PyTorch comparison) and the offline code-server that hosts the extension under test.
# Idempotent: installs only what is missing. Needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive

packages=(chromium libkrb5-dev g++ make python3 python3-torch python3-onnx python3-numpy python3-pil libopenblas0-openmp)
# exiftool: the provenance tests' independent reader of the XMP / IPTC fields.
packages+=(libimage-exiftool-perl)
missing=()
for p in "${packages[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "install-test-deps: apt-get install ${missing[*]}"
  $sudo apt-get update -q
  $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

node scripts/vscode-test/install.mjs
