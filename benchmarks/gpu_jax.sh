#!/usr/bin/env bash
# The GPU figures: the time-to-accuracy benchmark on the JAX backend, on a GPU machine
# that has JAX (with CUDA) but no TensorFlow and no network.
#
#   bash benchmarks/gpu_jax.sh [OUTPUT_DIR] [extra time_to_accuracy.py arguments]
#
# What it needs on that machine: JAX with its CUDA plugin; Keras 3 and its small
# dependencies, either installed or as wheels in .whl/ (fetched beforehand with
# `pip download --no-deps keras==3.15.1 namex optree` for the machine's Python);
# MNIST in $RNN_MNIST_HOME/data/mnist.npz (copy .cache/rnn-mnist/data/mnist.npz
# from a machine where `make data` ran). The results (JSON and log) go to OUTPUT_DIR.
# docs/performance.md records what it measured on an H200.
set -euo pipefail
cd "$(dirname "$0")/.."
OUTPUT_DIR=${1:-benchmarks/results}
shift || true
mkdir -p "$OUTPUT_DIR"

PYTHON=${PYTHON:-python3}
export KERAS_BACKEND=jax
if ! "$PYTHON" -c "import keras" 2>/dev/null; then
    ls .whl/*.whl >/dev/null 2>&1 || { echo "gpu_jax.sh: Keras is not installed and .whl/ holds no wheels" >&2; exit 1; }
    # A fresh private folder each run (never a fixed shared path another user could have filled).
    SITE=$(mktemp -d "${TMPDIR:-/tmp}/rnn-mnist-site.XXXXXX")
    trap 'rm -rf "$SITE"' EXIT
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" .whl/*.whl
    export PYTHONPATH=$SITE${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD/src${PYTHONPATH:+:$PYTHONPATH}
export RNN_MNIST_HOME=${RNN_MNIST_HOME:-$PWD/.cache/rnn-mnist}
export RNN_MNIST_OFFLINE=1
export PYTHONUNBUFFERED=1

{
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
    "$PYTHON" -c "import jax, keras; print('jax', jax.__version__, jax.devices(), '| keras', keras.__version__, keras.backend.backend())"
    "$PYTHON" -c "from rnn_mnist.config import book_recipe; from rnn_mnist.device import describe_device; print(describe_device(book_recipe())['summary'])"
} 2>&1 | tee "$OUTPUT_DIR/gpu_jax_environment.txt"

"$PYTHON" benchmarks/time_to_accuracy.py --output "$OUTPUT_DIR/time_to_accuracy_gpu_jax.json" "$@" 2>&1 \
    | tee "$OUTPUT_DIR/time_to_accuracy_gpu_jax.log"
