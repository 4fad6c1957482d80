#!/usr/bin/env bash
# The GPU figures: what each part of the recipe costs per step, and the time-to-accuracy
# benchmark, on the JAX backend, on a GPU machine that has JAX (with CUDA) but no TensorFlow
# and no network.
#
#   bash benchmarks/gpu_jax.sh [OUTPUT_DIR] [extra time_to_accuracy.py arguments]
#
# What it needs on that machine: JAX with its CUDA plugin; Keras 3 and its small
# dependencies, either installed or as wheels in .whl/ (fetched beforehand with
# `pip download --no-deps --only-binary=:all: --python-version 3.12 keras==3.15.1 namex optree -d .whl`);
# MNIST in $RNN_MNIST_HOME/data/mnist.npz (copy .cache/rnn-mnist/data/mnist.npz
# from a machine where `make data` ran). The results (JSON and logs) go to OUTPUT_DIR:
#   gpu_jax_environment.txt          the GPU, driver, JAX and Keras versions, the device report
#   step_cost_gpu_jax.json / .log    ms per training step of each part of the recipe, for
#                                    steps_per_execution 1 and STEPS_PER_EXECUTION_CANDIDATES
#   time_to_accuracy_gpu_jax.json / .log   the benchmark, the book's side at the fastest
#                                    steps_per_execution of the step-cost table
#   recipe_choice_gpu_jax.json / .log      only with RECIPE_CHOICE_SEEDS="0 1 2 ...": the
#                                    recipe's parts on validation (benchmarks/recipe_choice.py)
# On an H200 it takes about 6 minutes, start-up included. It runs on JAX's CPU build too
# (JAX_PLATFORMS=cpu, with --quick and STEP_COST_ARGS="--steps 5 --repeats 1"), which is how
# it is checked before it goes to a GPU. docs/performance.md records what it measured.
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

# What each part of the recipe costs per step (the first epoch, which compiles, left out).
STEP_COST_ARGS=${STEP_COST_ARGS:---steps 100 --repeats 1}
STEPS_PER_EXECUTION_CANDIDATES=${STEPS_PER_EXECUTION_CANDIDATES:-16}
# shellcheck disable=SC2086
"$PYTHON" benchmarks/step_cost.py $STEP_COST_ARGS --steps-per-execution 1 $STEPS_PER_EXECUTION_CANDIDATES \
    --output "$OUTPUT_DIR/step_cost_gpu_jax.json" 2>&1 | tee "$OUTPUT_DIR/step_cost_gpu_jax.log"

# steps_per_execution changes the speed, not the result: the benchmark uses the fastest measured.
SPE=$("$PYTHON" - "$OUTPUT_DIR/step_cost_gpu_jax.json" <<'PY'
import json, sys
rows = [r for r in json.load(open(sys.argv[1]))["table"] if "book's recipe" in r["variant"]]
print(min(rows, key=lambda r: r["ms_per_step"])["steps_per_execution"])
PY
)
echo "gpu_jax.sh: the book's side runs with steps_per_execution=$SPE (the fastest above)"

"$PYTHON" benchmarks/time_to_accuracy.py --steps-per-execution "$SPE" \
    --output "$OUTPUT_DIR/time_to_accuracy_gpu_jax.json" "$@" 2>&1 \
    | tee "$OUTPUT_DIR/time_to_accuracy_gpu_jax.log"

# Optionally, the recipe's parts checked on validation across seeds (benchmarks/recipe_choice.py),
# several runs at once on the one GPU; it starts no run after RECIPE_CHOICE_DEADLINE seconds.
if [ -n "${RECIPE_CHOICE_SEEDS:-}" ]; then
    # shellcheck disable=SC2086
    "$PYTHON" benchmarks/recipe_choice.py --seeds $RECIPE_CHOICE_SEEDS --jobs "${RECIPE_CHOICE_JOBS:-5}" \
        --steps-per-execution "$SPE" --deadline "${RECIPE_CHOICE_DEADLINE:-150}" ${RECIPE_CHOICE_ARGS:-} \
        --output "$OUTPUT_DIR/recipe_choice_gpu_jax.json" 2>&1 | tee "$OUTPUT_DIR/recipe_choice_gpu_jax.log"
fi
