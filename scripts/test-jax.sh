#!/usr/bin/env bash
# The JAX-backend test target: run the backend-neutral tests with KERAS_BACKEND=jax.
#
# Creates (once) a separate virtual environment with JAX's CPU build and *no*
# TensorFlow (requirements-jax.txt), installs this package into it without its
# TensorFlow extra, and runs the model, data, splits, training-run and
# distribution tests there. Two host "devices" are made with XLA_FLAGS so the
# data-parallel test runs on the Keras distribution API for real.
#
#   scripts/test-jax.sh                 # the whole target
#   scripts/test-jax.sh -k determinism  # extra pytest arguments are passed on
#
# Environment: PYTHON (default python3), JAX_VENV (default .venv-jax, git-ignored),
# RNN_MNIST_HOME (cached MNIST and Fashion-MNIST; `make data` fills it).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
JAX_VENV=${JAX_VENV:-.venv-jax}
STAMP="$JAX_VENV/.requirements-installed"

if [ ! -f "$STAMP" ] || [ requirements-jax.txt -nt "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    test -x "$JAX_VENV/bin/python" || "$PYTHON" -m venv "$JAX_VENV"
    "$JAX_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$JAX_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r requirements-jax.txt
    # The package itself, without dependencies: they are pinned above, and
    # TensorFlow (an optional extra) must stay out of this environment.
    "$JAX_VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-deps -e .
    touch "$STAMP"
fi

if "$JAX_VENV/bin/python" -c "import tensorflow" 2>/dev/null; then
    echo "test-jax: TensorFlow is importable in $JAX_VENV; this target must run without it" >&2
    exit 1
fi

export KERAS_BACKEND=jax
export RNN_MNIST_HOME=${RNN_MNIST_HOME:-$PWD/.cache/rnn-mnist}
# Two CPU devices for the data-parallel test (tests/test_lab_distribute.py).
export XLA_FLAGS="${XLA_FLAGS:-} --xla_force_host_platform_device_count=2"
export JAX_PLATFORMS=cpu

exec "$JAX_VENV/bin/python" -m pytest -p no:cacheprovider \
    tests/test_config.py tests/test_data.py tests/test_datasets.py tests/test_splits.py \
    tests/test_model.py tests/test_lab_cpu_threads.py tests/test_training.py tests/test_recipe_in_view.py tests/test_runs.py tests/test_comparison.py tests/test_lab_distribute.py \
    tests/test_backend.py "$@"
