#!/usr/bin/env bash
# The Colab test target (issue 20): every chapter on Google Colab's stack, through its own install cell.
#
# Creates (once) a separate virtual environment, .venv-colab, with exactly the versions Colab ships
# (requirements-colab.txt: TensorFlow 2.19, Keras 3.10, numpy 2.0.2, protobuf 5.29, Colab's pip and
# IPython, ...) and WITHOUT this package, checks every pin is what got installed, then executes
# every chapter with papermill, in order, on the small profile of notebooks/parameters.yml, in that
# environment's kernel. As in Colab, where each chapter opens in a fresh runtime, each chapter
# starts from Colab's stack (the package and chapter 9's ONNX packages uninstalled), so its first
# cell really runs `%pip install`: RNN_MNIST_INSTALL_FROM points that cell at a copy of this
# checkout (its tracked and untracked, not ignored, files) instead of the repository URL.
# After each chapter: no error or traceback in any output, the package came from the checkout,
# and the pinned versions have not moved; at the end, `import tensorflow` still works.
#
#   scripts/test-colab-stack.sh                      # the whole target (make test-colab)
#   scripts/test-colab-stack.sh 01_data 09_taking_the_model_out_of_python   # some chapters
#
# Environment: PYTHON (default python3), COLAB_VENV (default .venv-colab, git-ignored),
# RNN_MNIST_HOME (where `make data` put MNIST and Fashion-MNIST; default .cache/rnn-mnist).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
COLAB_VENV=${COLAB_VENV:-.venv-colab}
STAMP="$COLAB_VENV/.requirements-installed"
# What pip freeze said right after the install: the state every chapter starts from.
BASELINE="$COLAB_VENV/colab-freeze.txt"
PY="$COLAB_VENV/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check --quiet)
START=$SECONDS
export TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2}
# ipykernel 6.17's debugger warns about frozen modules at every kernel start; the warning is noise here.
export PYDEVD_DISABLE_FILE_VALIDATION=1

if [ ! -f "$STAMP" ] || [ requirements-colab.txt -nt "$STAMP" ]; then
    rm -rf "$COLAB_VENV"
    "$PYTHON" -m venv "$COLAB_VENV"
    # Colab's pip first: the install cells' resolution is its resolver's.
    "${PIP[@]}" install "$(grep -E '^pip==' requirements-colab.txt)"
    "${PIP[@]}" install --only-binary=:all: -r requirements-colab.txt
    "$PY" -m pip freeze --all >"$BASELINE"
    touch "$STAMP"
fi

# Back to Colab's stack: remove what an earlier chapter's install cell added (this package, the onnx
# extra), and reinstall any package of the stack that moved (only a failed run leaves one moved).
restore_colab_stack() {
    "$PY" - "$BASELINE" <<'PY'
import subprocess
import sys

names = {line.split("==")[0] for line in open(sys.argv[1]).read().split()}
freeze = subprocess.run([sys.executable, "-m", "pip", "freeze", "--all"], capture_output=True, text=True, check=True)
added = []
for line in freeze.stdout.splitlines():
    name = line.split("==")[0].split(" @ ")[0].strip()
    if name and name not in names:
        added.append(name)
if added:
    subprocess.run([sys.executable, "-m", "pip", "uninstall", "--quiet", "--yes", *added], check=True)
PY
    if ! cmp -s <("$PY" -m pip freeze --all) "$BASELINE"; then
        echo "test-colab: $COLAB_VENV's stack moved (an earlier run failed?); reinstalling it from $BASELINE"
        "${PIP[@]}" install --no-deps --only-binary=:all: -r "$BASELINE"
    fi
    if ! cmp -s <("$PY" -m pip freeze --all) "$BASELINE"; then
        echo "test-colab: $COLAB_VENV no longer holds Colab's stack (diff against $BASELINE below); delete it and run again" >&2
        diff <("$PY" -m pip freeze --all) "$BASELINE" >&2 || true
        exit 1
    fi
}
restore_colab_stack

# Exactly the pinned versions, or stop: a resolver that quietly moved one would test nothing.
check_pins() {
    "$PY" scripts/check-pins.py requirements-colab.txt "test-colab: $1"
}
check_pins "before the chapters"
"$PY" -c 'import google.protobuf, keras, numpy, tensorflow
print(f"test-colab: tensorflow {tensorflow.__version__}, keras {keras.__version__}, numpy {numpy.__version__}, protobuf {google.protobuf.__version__}")'

SOURCE_HOME=${RNN_MNIST_HOME:-$PWD/.cache/rnn-mnist}
SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/rnn-mnist-colab.XXXXXX")
trap 'rm -rf "$SCRATCH"' EXIT
mkdir -p "$SCRATCH/home/data" "$SCRATCH/checkout"
# The executed chapters, kept for inspection (artifacts/ is git-ignored).
CHAPTERS_OUT=artifacts/colab-chapters
rm -rf "$CHAPTERS_OUT" && mkdir -p "$CHAPTERS_OUT"
for file in mnist.npz fashion_mnist.npz; do
    if [ -f "$SOURCE_HOME/data/$file" ]; then cp "$SOURCE_HOME/data/$file" "$SCRATCH/home/data/"; fi
done
# What `git+<repository>` would fetch: the checkout's files, without its virtual environments and caches.
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    if [ -e "$f" ]; then printf '%s\0' "$f"; fi
done | tar --null -T - -cf - | tar -xf - -C "$SCRATCH/checkout"

export RNN_MNIST_INSTALL_FROM="$SCRATCH/checkout"
export RNN_MNIST_HOME="$SCRATCH/home"
export RNN_MNIST_OFFLINE=1 KERAS_BACKEND=tensorflow MPLBACKEND=agg
# The kernel papermill starts is this environment's own, not a user-wide "python3" kernelspec.
export JUPYTER_PATH="$PWD/$COLAB_VENV/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}"

if [ $# -gt 0 ]; then CHAPTERS=("$@"); else
    CHAPTERS=()
    for path in notebooks/*.ipynb; do CHAPTERS+=("$(basename "$path" .ipynb)"); done
fi
for name in "${CHAPTERS[@]}"; do
    if [ ! -f "notebooks/$name.ipynb" ]; then
        echo "test-colab: no chapter notebooks/$name.ipynb (give chapter names like 01_data)" >&2
        exit 2
    fi
    restore_colab_stack
    chapter_start=$SECONDS
    COLAB_BASELINE="$BASELINE" "$PY" - "$name" "$CHAPTERS_OUT" <<'PY'
import json
import os
import sys
from importlib.metadata import PackageNotFoundError, distribution, distributions
from pathlib import Path

import papermill
import yaml

name, out_dir = sys.argv[1], Path(sys.argv[2])
small = yaml.safe_load(Path("notebooks/parameters.yml").read_text())["small"]
source = Path("notebooks") / f"{name}.ipynb"
output = out_dir / f"{name}.ipynb"
declared = papermill.inspect_notebook(str(source))
try:
    papermill.execute_notebook(
        str(source), str(output),
        parameters={k: v for k, v in small.items() if k in declared},
        kernel_name="python3", cwd=str(source.parent), progress_bar=False,
    )
except papermill.PapermillExecutionError as error:
    raise SystemExit(f"test-colab: chapter {name} failed in cell {error.exec_count}: {error.ename}: {error.evalue}")

problems = []
for index, cell in enumerate(json.loads(output.read_text())["cells"]):
    for out in cell.get("outputs", []):
        text = "".join(out.get("text", "")) + "".join(out.get("traceback", []))
        text += "".join("".join(v) if isinstance(v, list) else str(v) for v in out.get("data", {}).values())
        if out.get("output_type") == "error" or "Traceback (most recent call last)" in text:
            problems.append(f"cell {index} shows an error or a traceback")
        # pip reports a resolution it could not make, or one that broke an installed package, as ERROR.
        if index == 0 and "ERROR" in text:
            problems.append("the install cell's pip reported: " + next(l for l in text.splitlines() if "ERROR" in l))
try:
    url = json.loads(distribution("rnn-mnist").read_text("direct_url.json") or "{}").get("url", "")
except PackageNotFoundError:
    url = ""
if url != Path(os.environ["RNN_MNIST_INSTALL_FROM"]).resolve().as_uri():
    problems.append(f"the package was not installed from the checkout by the install cell (installed from {url or 'nowhere'})")
if name.startswith("09_"):
    for extra in ("onnx", "tf2onnx", "onnxruntime"):
        try:
            distribution(extra)
        except PackageNotFoundError:
            problems.append(f"the install cell did not install {extra} (the onnx extra)")
if problems:
    raise SystemExit(f"test-colab: chapter {name} (executed copy kept at {output}): " + "; ".join(problems))
baseline = {line.split("==")[0] for line in Path(os.environ["COLAB_BASELINE"]).read_text().split()}
added = sorted(f"{d.metadata['Name']} {d.version}" for d in distributions() if d.metadata["Name"] not in baseline)
print(f"test-colab: chapter {name}'s install cell added " + ", ".join(added))
PY
    check_pins "after chapter $name"
    echo "test-colab: chapter $name passed ($((SECONDS - chapter_start)) s, its install cell installed the package from the checkout)"
done

# Every extra, not only chapter 9's, installed as the cells install (beside pins of the installed
# TensorFlow, Keras, numpy and protobuf), must leave those four as they are and everything else
# TensorFlow requires in its range: a dry run (pip resolves and reports, installs nothing).
"$PY" - "$RNN_MNIST_INSTALL_FROM" <<'PY'
import json
import subprocess
import sys
import tempfile
from importlib.metadata import requires, version
from pathlib import Path

from packaging.requirements import Requirement

with tempfile.TemporaryDirectory() as tmp:
    report = Path(tmp) / "report.json"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--dry-run", "--report", str(report),
         f"rnn-mnist[onnx,book,test] @ {Path(sys.argv[1]).resolve().as_uri()}",
         *(f"{name}=={version(name)}" for name in ("tensorflow", "keras", "numpy", "protobuf"))],
        check=True, stdout=subprocess.DEVNULL,
    )
    chosen = {
        Requirement(item["metadata"]["name"]).name.lower().replace("_", "-"): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
moved = [f"{name} {chosen[name]}" for name in ("tensorflow", "keras", "numpy", "protobuf") if name in chosen]
for line in requires("tensorflow"):
    requirement = Requirement(line)
    name = requirement.name.lower().replace("_", "-")
    if name in chosen and (requirement.marker is None or requirement.marker.evaluate({"extra": ""})):
        if not requirement.specifier.contains(chosen[name], prereleases=True):
            moved.append(f"{name} {chosen[name]} (tensorflow {version('tensorflow')} requires {requirement})")
if moved:
    raise SystemExit("test-colab: installing rnn-mnist[onnx,book,test] as the cells do would move " + ", ".join(moved))
print("test-colab: the extras [onnx,book,test], installed as the cells install, keep TensorFlow's stack")
PY

# The issue's symptom was `import tensorflow` failing after chapter 9's install; check in a fresh process.
"$PY" -c 'import tensorflow' || { echo "test-colab: import tensorflow fails after the install cells" >&2; exit 1; }
check_pins "after all chapters"
"$PY" -m pip check >/dev/null || { "$PY" -m pip check >&2; echo "test-colab: pip check fails after the install cells" >&2; exit 1; }
restore_colab_stack
echo "test-colab: ${#CHAPTERS[@]} chapters passed on Colab's stack (requirements-colab.txt) in $((SECONDS - START)) s"
