#!/usr/bin/env bash
# Make Fashion-MNIST available offline and verify it into the project cache.
#
# Installs Debian's `dataset-fashion-mnist` package (the four IDX files in
# /usr/share/datasets/fashion-mnist/) when it is missing and apt-get is here,
# then loads the dataset through the package, which checks every array against
# the pinned SHA-256 and writes $RNN_MNIST_HOME/data/fashion_mnist.npz.
# Elsewhere (no apt-get), the package falls back to Keras's download, or to
# RNN_MNIST_FASHION_DATA naming a folder with the four files.
#
#   scripts/fetch-fashion-mnist.sh            # uses .venv/bin/python
#   PYTHON=python3 scripts/fetch-fashion-mnist.sh
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-.venv/bin/python}
export RNN_MNIST_HOME=${RNN_MNIST_HOME:-$PWD/.cache/rnn-mnist}
DEBIAN_DIR=/usr/share/datasets/fashion-mnist

if [ ! -f "$RNN_MNIST_HOME/data/fashion_mnist.npz" ] && [ ! -f "$DEBIAN_DIR/t10k-labels-idx1-ubyte.gz" ] \
        && command -v apt-get >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
            echo "fetch-fashion-mnist: not root and no sudo; skipping apt-get (other sources will be tried)" >&2
        fi
    fi
    if [ "$(id -u)" -eq 0 ] || [ -n "$SUDO" ]; then
        $SUDO apt-get install -y --no-install-recommends dataset-fashion-mnist >/dev/null 2>&1 || {
            $SUDO apt-get update -qq >/dev/null
            $SUDO apt-get install -y --no-install-recommends dataset-fashion-mnist >/dev/null
        }
    fi
fi

TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3} "$PYTHON" - <<'PY'
from rnn_mnist.data import FASHION_MNIST_ARRAY_SHA256, array_sha256, load_dataset_arrays

fashion = load_dataset_arrays("fashion_mnist")
for name, pinned in FASHION_MNIST_ARRAY_SHA256.items():
    assert array_sha256(getattr(fashion, name)) == pinned, name
print(f"Fashion-MNIST verified (all four arrays match the pinned SHA-256); served by {fashion.source}")
PY
