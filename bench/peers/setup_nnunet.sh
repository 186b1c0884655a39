#!/usr/bin/env bash
# Bench-only environment for bench/predict.py's nnU-Net v2 peer: a separate virtual environment
# (bench/.venv-nnunet, gitignored) with nnunetv2 from PyPI. It is not a dependency of livseg.
#
#   bash bench/peers/setup_nnunet.sh
#
# torch stays at the CPU build livseg uses (constraints.txt pins torch==2.13.0), so pip never
# resolves a CUDA build. PYTHON and NNUNET_VERSION override the interpreter and the release.
# PyPI's torchvision (pulled in by timm) is built against the CUDA torch and does not load beside
# the CPU one; bench/peers/nnunet_peer.py never imports it.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
venv="${NNUNET_VENV:-$repo/bench/.venv-nnunet}"
python="${PYTHON:-python3}"
version="${NNUNET_VERSION:-2.8.1}"

if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --upgrade pip
"$venv/bin/python" -m pip install --quiet -c "$repo/constraints.txt" "nnunetv2==$version"
"$venv/bin/python" - <<'PY'
import importlib.metadata as md
import torch
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor  # noqa: F401
print(f"nnunetv2 {md.version('nnunetv2')}, torch {torch.__version__}, CUDA build: {torch.version.cuda is not None}")
PY
echo "nnU-Net v2 peer environment ready: $venv"
