#!/usr/bin/env bash
# The minimum-versions test target (like scikit-learn's minimum-dependencies CI job).
#
# Creates (once) a separate virtual environment, .venv-min, with exactly the oldest
# versions the package declares (requirements-min.txt: an older TensorFlow and Keras,
# numpy 1.x, ...), installs this package into it with --no-deps (so nothing newer sneaks
# in), checks every pin is what got installed, then runs
#   1. the package tests that need no browser and no built book (see TESTS below), and
#   2. two chapters through papermill on the small profile of notebooks/parameters.yml:
#      03 (Keras: the recipe, fit, evaluate, predict, the run store, the device report) and
#      05 (scikit-learn's confusion matrix display and report, pandas' Styler, matplotlib).
# Runs are trained afresh in a scratch RNN_MNIST_HOME, so what is tested is what the oldest
# versions train; MNIST and Fashion-MNIST are copied from $RNN_MNIST_HOME/data (`make data`).
# Before the tests, the project's .venv (the newest Keras) stores one tiny run in the scratch
# folder, and tests/test_runs_across_keras.py checks what the oldest Keras does with it (keeps it,
# trains the config again beside it).
#
#   scripts/test-min-versions.sh                 # the whole target
#   scripts/test-min-versions.sh -k splits       # extra pytest arguments are passed on
#
# Environment: PYTHON (default python3), MIN_VENV (default .venv-min, git-ignored),
# NEWER_PYTHON (a Python with requirements.txt's newest Keras; default .venv/bin/python),
# RNN_MNIST_HOME (where `make data` put the datasets; default .cache/rnn-mnist).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
MIN_VENV=${MIN_VENV:-.venv-min}
STAMP="$MIN_VENV/.requirements-installed"
PY="$MIN_VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check --quiet)

if [ ! -f "$STAMP" ] || [ requirements-min.txt -nt "$STAMP" ] || [ pyproject.toml -nt "$STAMP" ]; then
    test -x "$PY" || "$PYTHON" -m venv "$MIN_VENV"
    "${PIP[@]}" install --only-binary=:all: -r requirements-min.txt
    "${PIP[@]}" install --no-deps -e .
    touch "$STAMP"
fi

# Exactly the pinned versions, or stop: a resolver that quietly upgraded one would test nothing.
"$PY" scripts/check-pins.py requirements-min.txt "test-min"
"$PY" -c 'import keras, numpy, tensorflow
print(f"test-min: tensorflow {tensorflow.__version__}, keras {keras.__version__}, numpy {numpy.__version__}")'

SOURCE_HOME=${RNN_MNIST_HOME:-$PWD/.cache/rnn-mnist}
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rnn-mnist-min.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$SCRATCH/home/data" "$SCRATCH/chapters"
for file in mnist.npz fashion_mnist.npz; do
    if [ -f "$SOURCE_HOME/data/$file" ]; then cp "$SOURCE_HOME/data/$file" "$SCRATCH/home/data/"; fi
done
export RNN_MNIST_HOME="$SCRATCH/home"
export RNN_MNIST_OFFLINE=1 KERAS_BACKEND=tensorflow MPLBACKEND=agg
# The kernel papermill starts is this environment's own, not a user-wide "python3" kernelspec.
export JUPYTER_PATH="$PWD/$MIN_VENV/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-3}

# One tiny run stored by the newest Keras (this checkout's source on the path), for
# tests/test_runs_across_keras.py to read with the oldest.
NEWER_PYTHON=${NEWER_PYTHON:-.venv/bin/python}
if [ ! -x "$NEWER_PYTHON" ]; then
    echo "test-min: $NEWER_PYTHON is missing; run 'make setup', or set NEWER_PYTHON to a Python with requirements.txt installed" >&2
    exit 1
fi
if ! PYTHONPATH="$PWD/src" "$NEWER_PYTHON" -m rnn_mnist.cli train --epochs 1 --units 16 --train-size 300 \
        --validation-size 100 --test-size 100 --run-dir "$SCRATCH/newer-keras-runs" >"$SCRATCH/newer-keras.log" 2>&1; then
    cat "$SCRATCH/newer-keras.log" >&2
    echo "test-min: storing a run with $NEWER_PYTHON failed (its output is above)" >&2
    exit 1
fi
export RNN_MNIST_NEWER_KERAS_RUNS="$SCRATCH/newer-keras-runs"

# Everything that exercises the package itself on TensorFlow; left out are the browser, the
# built site, links and workflows (tools, not the package), the benchmark, the JAX backend
# and the notebook-hygiene tests (they read files, not libraries).
TESTS=(
    tests/test_config.py tests/test_parameters.py tests/test_data.py tests/test_npz_safety.py tests/test_datasets.py
    tests/test_splits.py tests/test_model.py tests/test_recipe_in_view.py tests/test_training.py
    tests/test_runs.py tests/test_run_integrity.py tests/test_runs_across_keras.py tests/test_analysis.py
    tests/test_plots.py tests/test_comparison.py tests/test_cli.py tests/test_lab_cpu_threads.py
)
"$PY" -m pytest -p no:cacheprovider -m "not network" "${TESTS[@]}" "$@"

# Two chapters on the small profile, in this environment's own kernel.
"$PY" - "$SCRATCH/chapters" <<'PY'
import sys
from pathlib import Path

import papermill
import yaml

small = yaml.safe_load(Path("notebooks/parameters.yml").read_text())["small"]
for name in ("03_training", "05_confusion_matrix"):
    source = Path("notebooks") / f"{name}.ipynb"
    declared = papermill.inspect_notebook(str(source))
    papermill.execute_notebook(
        str(source), str(Path(sys.argv[1]) / f"{name}.ipynb"),
        parameters={k: v for k, v in small.items() if k in declared},
        kernel_name="python3", cwd=str(source.parent), progress_bar=False,
    )
    print(f"test-min: chapter {name} ran on the small profile")
PY
echo "test-min: passed on the minimum versions of requirements-min.txt"
