#!/usr/bin/env bash
# Sets up .venv (if needed) and runs the test suite on both cores: everything on the
# TensorFlow backend, then the model-zoo tests again on JAX and on PyTorch (CPU builds).
# Extra arguments go to every pytest run, e.g. `bash tests/run.sh -m heavy` for the
# ImageNet-size builds (deselected by default: pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev,mobile,onnx]"
# PyTorch's CPU build, for the model-zoo tests on that backend. PyPI's plain `torch` is a CUDA
# build of several GB; this machine kind keeps the 2.13.0 CPU wheel on disk, which this pin
# takes (elsewhere: pip install torch --index-url https://download.pytorch.org/whl/cpu).
.venv/bin/python -m pip install -q "torch==2.13.0" \
  || echo "note: could not install PyTorch's CPU build; the PyTorch run is skipped"

# The real Fashion-MNIST, from Debian's package, for the data tests (best effort:
# those tests say they were skipped when it is missing).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } \
    || echo "note: could not install dataset-fashion-mnist; its tests will be skipped"
fi

export TF_CPP_MIN_LOG_LEVEL=3
# loadgroup: the tests that share an expensive module fixture run on one worker (tests/conftest.py).
PYTEST=(.venv/bin/python -m pytest -q -p no:cacheprovider -n 2 --dist loadgroup)
echo "== pytest on the TensorFlow backend"
# Three workers on two cores: many of these tests wait on processes they started.
# --durations: the slowest tests, listed at the end, where CI time can be cut (the goal is 20 minutes).
KERAS_BACKEND=tensorflow "${PYTEST[@]}" -n 3 --durations=25 "$@"
echo "== model-zoo tests on the JAX backend"
# XLA's CPU compiler at optimisation level 0: these checks run each network on two images, so compiling is
# most of their time. Keras on JAX compiles each weight initializer's random draw once per weight shape: a
# quarter-width GoogLeNet took 44 s to build on a 2-core AMD EPYC (Zen 3), 13 s at level 0.
XLA_FLAGS="--xla_backend_optimization_level=0 ${XLA_FLAGS:-}" KERAS_BACKEND=jax "${PYTEST[@]}" -m "zoo and not heavy" "$@"
if .venv/bin/python -c "import torch" 2>/dev/null; then
  echo "== model-zoo tests on the PyTorch backend"
  KERAS_BACKEND=torch "${PYTEST[@]}" -m "zoo and not heavy" "$@"
fi
