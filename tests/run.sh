#!/usr/bin/env bash
# Sets up .venv (if needed) and runs the test suite: everything on the
# TensorFlow backend, then the model-zoo tests again on JAX.
# Extra arguments go to both pytest runs, e.g. `bash tests/run.sh -m heavy`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[dev,mobile,onnx]"

# The real Fashion-MNIST, from Debian's package, for the data tests (best effort:
# those tests say they were skipped when it is missing).
if [ ! -d /usr/share/datasets/fashion-mnist ] && command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q dataset-fashion-mnist >/dev/null 2>&1; } \
    || echo "note: could not install dataset-fashion-mnist; its tests will be skipped"
fi

export TF_CPP_MIN_LOG_LEVEL=3
echo "== pytest on the TensorFlow backend"
KERAS_BACKEND=tensorflow .venv/bin/python -m pytest -q -p no:cacheprovider "$@"
echo "== model-zoo tests on the JAX backend"
KERAS_BACKEND=jax .venv/bin/python -m pytest -q -p no:cacheprovider -m "zoo and not heavy" "$@"
